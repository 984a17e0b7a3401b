// The install scripts' detection (scripts/lib/detect.sh), run against fake roots laid out like
// fresh images: each script's `--dry-run --root DIR` prints what it would install, and the tests
// assert that it picks the right packages. Nothing on the machine is touched. The case that broke
// `npm install` on a fresh Debian 12 (libclang-cpp.so.14 present, no libclang.so) is the first.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import test from 'ava';

const root = join(import.meta.dirname, '..');

/** A fake root: files (empty, or with text) and executables (shell scripts) under a temp dir. */
class FakeRoot {
  readonly dir = mkdtempSync(join(tmpdir(), 'densenet-fakeroot-'));
  file(path: string, text = ''): this {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    writeFileSync(join(this.dir, path), text);
    return this;
  }
  exe(path: string, script = 'exit 0'): this {
    this.file(path, `#!/bin/sh\n${script}\n`);
    chmodSync(join(this.dir, path), 0o755);
    return this;
  }
  link(path: string, target: string): this {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    symlinkSync(target, join(this.dir, path));
    return this;
  }
  /** What a Debian 12 image with LLVM 14 has: libclang-cpp (the C++ library) but not libclang. */
  static freshDebian(): FakeRoot {
    return new FakeRoot()
      .exe('/usr/bin/python3')
      .file('/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14')
      .file('/usr/lib/llvm-14/lib/libclang-cpp.so.14')
      .link('/usr/lib/llvm-14/lib/libclang-cpp.so', 'libclang-cpp.so.14')
      .file('/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1');
  }
  /** Runs `bash scripts/<script> --dry-run --root <dir>` with a clean environment; returns its stdout lines. */
  dryRun(script: string, env: Record<string, string> = {}): string[] {
    const res = spawnSync('bash', [join(root, 'scripts', script), '--dry-run', '--root', this.dir], {
      encoding: 'utf8',
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/home/user', ...env },
    });
    if (res.status !== 0) throw new Error(`${script} exited ${res.status}: ${res.stderr}`);
    return res.stdout.trim().split('\n');
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function withRoot(make: () => FakeRoot, body: (r: FakeRoot) => void): void {
  const r = make();
  try {
    body(r);
  } finally {
    r.remove();
  }
}

/** Debian's libopenmpi-dev and openmpi-bin, as the fake root has them. */
function addOpenMpi(r: FakeRoot): FakeRoot {
  return r
    .exe('/usr/bin/mpirun')
    .exe('/usr/bin/mpicc')
    .file('/usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h')
    .file('/usr/lib/x86_64-linux-gnu/openmpi/lib/libmpi.so.40')
    .link('/usr/lib/x86_64-linux-gnu/libmpi.so', 'openmpi/lib/libmpi.so.40');
}

test('install-mpi: libclang-cpp.so.14 is not libclang: a fresh image gets libclang-dev', (t) => {
  withRoot(FakeRoot.freshDebian, (r) => {
    t.deepEqual(r.dryRun('install-mpi.sh'), ['install-mpi: would install: openmpi-bin libopenmpi-dev libclang-dev']);
    addOpenMpi(r);
    t.deepEqual(r.dryRun('install-mpi.sh'), ['install-mpi: would install: libclang-dev']);
  });
});

test('install-mpi: libclang found where clang-sys looks (versioned names, llvm-config, LIBCLANG_PATH)', (t) => {
  // Debian's libclang1-14: /usr/lib/x86_64-linux-gnu/libclang-14.so.1 (matches libclang-*.so.*).
  withRoot(
    () => addOpenMpi(FakeRoot.freshDebian()).file('/usr/lib/x86_64-linux-gnu/libclang-14.so.1'),
    (r) => t.deepEqual(r.dryRun('install-mpi.sh'), ['install-mpi: nothing to install']),
  );
  // libclang-dev's /usr/lib/llvm-14/lib/libclang.so (a directory clang-sys's /usr/lib*/*/* glob reaches).
  withRoot(
    () => addOpenMpi(FakeRoot.freshDebian()).file('/usr/lib/llvm-14/lib/libclang.so'),
    (r) => t.deepEqual(r.dryRun('install-mpi.sh'), ['install-mpi: nothing to install']),
  );
  // Only through `llvm-config --prefix`: a prefix outside the fixed globs.
  withRoot(
    () => addOpenMpi(FakeRoot.freshDebian()).file('/opt/llvm/lib/libclang.so.18').exe('/usr/bin/llvm-config', 'echo /opt/llvm'),
    (r) => t.deepEqual(r.dryRun('install-mpi.sh'), ['install-mpi: nothing to install']),
  );
  // LIBCLANG_PATH is the only place clang-sys searches when it is set: a library elsewhere does not count.
  withRoot(
    () => addOpenMpi(FakeRoot.freshDebian()).file('/usr/lib/llvm-14/lib/libclang.so').file('/opt/clang/libclang.so.1'),
    (r) => {
      t.deepEqual(r.dryRun('install-mpi.sh', { LIBCLANG_PATH: '/opt/empty' }), ['install-mpi: would install: libclang-dev']);
      t.deepEqual(r.dryRun('install-mpi.sh', { LIBCLANG_PATH: '/opt/clang' }), ['install-mpi: nothing to install']);
      t.deepEqual(r.dryRun('install-mpi.sh', { LIBCLANG_PATH: '/opt/clang/libclang.so.1' }), ['install-mpi: nothing to install']);
    },
  );
  // libclang-cpp named by LIBCLANG_PATH is still not libclang.
  withRoot(
    () => addOpenMpi(FakeRoot.freshDebian()),
    (r) => t.deepEqual(r.dryRun('install-mpi.sh', { LIBCLANG_PATH: '/usr/lib/llvm-14/lib/libclang-cpp.so.14' }), ['install-mpi: would install: libclang-dev']),
  );
});

test('install-mpi: mpicc without mpi.h or libmpi.so (openmpi-bin alone) still needs libopenmpi-dev', (t) => {
  withRoot(
    () => FakeRoot.freshDebian().exe('/usr/bin/mpirun').exe('/usr/bin/mpicc').file('/usr/lib/x86_64-linux-gnu/libclang-14.so.1'),
    (r) => t.deepEqual(r.dryRun('install-mpi.sh'), ['install-mpi: would install: libopenmpi-dev']),
  );
});

test('install-wasm-toolchain: each missing piece maps to its Debian package', (t) => {
  withRoot(FakeRoot.freshDebian, (r) => {
    t.deepEqual(r.dryRun('install-wasm-toolchain.sh'), ['install-wasm-toolchain: would install: rustc-web cargo-web rust-web-src lld']);
    // rustc-web and cargo-web alone: the std sources -Zbuild-std reads and wasm-ld are still missing.
    r.exe('/usr/bin/rustc').exe('/usr/bin/cargo');
    t.deepEqual(r.dryRun('install-wasm-toolchain.sh'), ['install-wasm-toolchain: would install: rust-web-src lld']);
    // LLVM's wasm-ld off PATH (llvm-14-linker-tools) is not the `wasm-ld` the build names.
    r.exe('/usr/lib/llvm-14/bin/wasm-ld');
    t.deepEqual(r.dryRun('install-wasm-toolchain.sh'), ['install-wasm-toolchain: would install: rust-web-src lld']);
    // rust-web-src's layout: /usr/lib/rustlib/src/rust -> ../../../src/rustc-X.
    r.file('/usr/src/rustc-1.96.0/library/Cargo.lock').link('/usr/lib/rustlib/src/rust', '../../../src/rustc-1.96.0').link('/usr/bin/wasm-ld', '../lib/llvm-14/bin/wasm-ld');
    t.deepEqual(r.dryRun('install-wasm-toolchain.sh'), ['install-wasm-toolchain: nothing to install']);
  });
});

test('install-chromium: the browsers test/helpers/chromium.ts looks for, in its order', (t) => {
  withRoot(FakeRoot.freshDebian, (r) => {
    t.deepEqual(r.dryRun('install-chromium.sh'), ['install-chromium: would install: chromium']);
    // A chromium elsewhere on PATH is not one the tests launch.
    r.exe('/usr/local/bin/chromium');
    t.deepEqual(r.dryRun('install-chromium.sh'), ['install-chromium: would install: chromium']);
    t.deepEqual(r.dryRun('install-chromium.sh', { CHROMIUM_PATH: '/usr/local/bin/chromium' }), ['install-chromium: nothing to install']);
    r.exe('/usr/bin/chromium');
    t.deepEqual(r.dryRun('install-chromium.sh'), ['install-chromium: nothing to install']);
  });
});

test('install-cuda-toolkit: a venv needs python3-venv (ensurepip); then the pinned wheels', (t) => {
  withRoot(FakeRoot.freshDebian, (r) => {
    const out = r.dryRun('install-cuda-toolkit.sh');
    t.is(out[0], 'install-cuda-toolkit: would install: python3-venv');
    t.regex(out[1], /^install-cuda-toolkit: would pip install into .*cuda\/venv: nvidia-cuda-nvcc==13\.0\.\d+ /);
    r.file('/usr/lib/python3.11/ensurepip/__init__.py');
    t.deepEqual(
      r.dryRun('install-cuda-toolkit.sh').map((l) => l.replace(/ into .*: /, ' into VENV: ')),
      [out[1].replace(/ into .*: /, ' into VENV: ')],
    );
  });
});

test('install-wasm-bindgen: the cached CLI must print the pinned version', (t) => {
  const cargoToml = execFileSync('cat', [join(root, 'crates/densenet-wasm/Cargo.toml')], { encoding: 'utf8' });
  const version = /^wasm-bindgen = "=([0-9.]+)"/m.exec(cargoToml)?.[1];
  t.truthy(version, 'crates/densenet-wasm pins wasm-bindgen');
  withRoot(FakeRoot.freshDebian, (r) => {
    const bin = `/home/user/.cache/densenet-sdk/wasm-bindgen-${version}/bin/wasm-bindgen`;
    t.deepEqual(r.dryRun('install-wasm-bindgen.sh'), [
      `install-wasm-bindgen: would install: wasm-bindgen-cli ${version} (cargo install --root /home/user/.cache/densenet-sdk/wasm-bindgen-${version})`,
    ]);
    r.exe(bin, 'echo "wasm-bindgen 0.0.1"');
    t.regex(r.dryRun('install-wasm-bindgen.sh')[0], /would install: wasm-bindgen-cli/);
    r.exe(bin, `echo "wasm-bindgen ${version}"`);
    t.deepEqual(r.dryRun('install-wasm-bindgen.sh'), ['install-wasm-bindgen: nothing to install']);
  });
});

test('install-torch: the pinned wheel into a cached venv, after python3-venv', (t) => {
  withRoot(FakeRoot.freshDebian, (r) => {
    t.deepEqual(r.dryRun('install-torch.sh'), [
      'install-torch: would install: python3-venv',
      'install-torch: would pip install into /home/user/.cache/densenet-sdk/torch-2.15.0/venv: torch==2.15.0 numpy==2.4.6',
    ]);
    // A venv from an earlier run with another pin is replaced.
    r.exe('/home/user/.cache/densenet-sdk/torch-2.15.0/venv/bin/python').file('/home/user/.cache/densenet-sdk/torch-2.15.0/venv/.densenet-pin', 'torch==2.0.0\n');
    r.file('/usr/lib/python3.11/ensurepip/__init__.py');
    t.deepEqual(r.dryRun('install-torch.sh'), ['install-torch: would pip install into /home/user/.cache/densenet-sdk/torch-2.15.0/venv: torch==2.15.0 numpy==2.4.6']);
    r.file('/home/user/.cache/densenet-sdk/torch-2.15.0/venv/.densenet-pin', 'torch==2.15.0 numpy==2.4.6\n');
    t.deepEqual(r.dryRun('install-torch.sh'), ['install-torch: nothing to install']);
  });
});

test('every install script decides on this machine too (--dry-run, no root given)', (t) => {
  for (const script of ['install-mpi.sh', 'install-wasm-toolchain.sh', 'install-chromium.sh', 'install-cuda-toolkit.sh', 'install-wasm-bindgen.sh', 'install-torch.sh']) {
    const res = spawnSync('bash', [join(root, 'scripts', script), '--dry-run'], { encoding: 'utf8' });
    t.is(res.status, 0, `${script}: ${res.stderr}`);
    t.regex(res.stdout, /: (would install: |would pip install |nothing to install)/, script);
  }
});
