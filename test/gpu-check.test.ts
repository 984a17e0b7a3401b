// The GPU check (benches/gpu) without a GPU: the rows it runs (--list, and the --dry-run printing
// every one of them), the CUDA 13 library path and preflight against fake library folders, and
// the bundle: within the 60 MiB a carry allows, NCCL in its own tarball, run from /tmp.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

const root = join(import.meta.dirname, '..');
const gpu = join(root, 'benches', 'gpu');
const LIMIT = 60 * 2 ** 20;
const haveCc = spawnSync('cc', ['--version']).status === 0;

function py(args: string[], env: Record<string, string> = {}) {
  return spawnSync('python3', args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
}

function list(dry: boolean): string[] {
  const r = py([join(gpu, 'check.py'), '--list', ...(dry ? ['--dry-run'] : [])]);
  if (r.status !== 0) throw new Error(`check.py --list: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

test('check.py --list: every row of the GPU run, with no torch and no GPU', (t) => {
  const rows = list(false);
  t.is(rows[0], 'preflight');
  for (const want of [/^device$/, /^parity densenet-bc .*: every gradient$/, /^parity imagenet-stem .*: BN running stats$/, /^densenet-bc-100 b64 32px train img\/s \(efficient/, /^densenet-bc-100 b64 peak GPU memory \(naive/, /^NCCL smoke \(world of 1\)$/, /^compute-sanitizer memcheck/, /^densenet264 224px b64: one training step$/, /^densenet264 224px: largest batch/]) {
    t.true(rows.some((r) => want.test(r)), `${want}`);
  }
  t.is(new Set(rows).size, rows.length, 'row names are unique');
  const dry = list(true);
  t.false(dry.includes('preflight'), 'the dry run has no libraries to check');
  t.true(dry.some((r) => r.startsWith('parity cifar-bc')));
});

/** The dry run's output announces every row of the GPU run, then prints each of its own. */
function everyRow(t: ExecutionContext, out: string): void {
  for (const row of list(false)) t.true(out.includes(`would run on the GPU: ${row}\n`), `announces ${row}`);
  for (const row of list(true)) t.regex(out, new RegExp(`^  ${row.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ours `, 'm'), `prints ${row}`);
}

/** python: PYTHON or python3 when it imports torch, else scripts/install-torch.sh's cached venv. */
function torchPython(): string | undefined {
  const venv = join(process.env.DENSENET_CACHE_DIR ?? join(homedir(), '.cache', 'densenet-sdk'), 'torch-2.15.0', 'venv', 'bin', 'python');
  for (const p of [process.env.PYTHON, 'python3', venv]) {
    if (p && spawnSync(p, ['-c', 'import torch, numpy']).status === 0) return p;
  }
  return undefined;
}
const torchPy = torchPython();
const cpuAddon = join(root, 'native', 'densenet.linux-x64-gnu.node');
const dryRun = torchPy && existsSync(cpuAddon) ? test : test.skip;
dryRun(`check.sh --dry-run prints every row it would run, then each CPU row${torchPy ? '' : ' (skipped: no Python with torch; scripts/install-torch.sh installs it)'}`, (t) => {
  const r = spawnSync('bash', [join(gpu, 'check.sh'), '--dry-run'], { encoding: 'utf8', env: { ...process.env, PYTHON: torchPy!, NODE: process.execPath }, timeout: 280_000 });
  const out = r.stdout;
  everyRow(t, out);
  t.regex(out, /^parity: PASS$/m, r.stderr);
  t.regex(out, /^nccl: PASS$/m);
  t.regex(out, /^sanitizer: SKIP$/m);
  t.is(r.status, 0);
});

/** A stand-in for reference.py's tasks (no torch): answers each with a plausible line, no inputs. */
const STAND_IN = `import json, sys
t = json.loads(sys.argv[2])
k = t["task"]
print(json.dumps({"version": {"ok": True, "torch": "stand-in", "cuda": None, "device": "CPU"},
                  "bench": {"ok": True, "median": 0.1, "imgPerSec": 40.0},
                  "step": {"ok": True, "seconds": 0.2, "loss": 2.3}}.get(k, {"ok": False, "code": "STAND_IN", "message": "no torch here"})))
`;

(existsSync(cpuAddon) ? test : test.skip)('check.sh --dry-run with a stand-in for PyTorch: every row is announced and printed, the verdicts come last', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'densenet-gpudry-'));
  try {
    const stand = join(d, 'python');
    writeFileSync(stand, `#!${spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim()}\n${STAND_IN}`, { mode: 0o755 });
    const r = spawnSync('bash', [join(gpu, 'check.sh'), '--dry-run', '--python', stand], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath }, timeout: 120_000 });
    everyRow(t, r.stdout);
    t.regex(r.stdout, /parity cifar-bc .*FAIL: the reference could not write the inputs: STAND_IN/, 'a reference that fails is a FAIL row, not a crash');
    t.regex(r.stdout, /\nparity: FAIL\nnccl: PASS\nsanitizer: SKIP\n$/);
    t.is(r.status, 1, r.stderr);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

/** A fake shared library compiled from one line of C. */
function fakeLib(path: string, c: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const src = `${path}.c`;
  writeFileSync(src, c);
  const r = spawnSync('cc', ['-shared', '-fPIC', '-o', path, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

const withCc = haveCc ? test : test.skip;
withCc(`libs.py: CUDA 13 folders first, a libcublas.so shim, no stubs; the preflight names what is wrong${haveCc ? '' : ' (skipped: no C compiler, cc)'}`, (t) => {
  const d = mkdtempSync(join(tmpdir(), 'densenet-gpulibs-'));
  try {
    const cublas = (major: number) => `int cublasGetProperty(int t, int *v) { *v = t == 0 ? ${major} : 0; return 0; }`;
    fakeLib(join(d, 'site/nvidia/cu13/lib/libcublas.so.13'), cublas(13));
    fakeLib(join(d, 'site/nvidia/cu13/lib/libcublasLt.so.13'), 'int lt;');
    fakeLib(join(d, 'site/nvidia/cu13/lib/libcurand.so.10'), 'int curand;');
    fakeLib(join(d, 'site/nvidia/cu13/lib/libcudart.so.13'), 'int cudart;');
    fakeLib(join(d, 'site/nvidia/nccl/lib/libnccl.so.2'), 'int nccl;');
    fakeLib(join(d, 'site/nvidia/cublas/lib/libcublas.so.12'), cublas(12));
    fakeLib(join(d, 'old/libcublas.so'), cublas(12));
    fakeLib(join(d, 'old/libcuda.so.1'), 'int cuDriverGetVersion(int *v) { *v = 12040; return 0; }');
    fakeLib(join(d, 'new/libcuda.so.1'), 'int cuDriverGetVersion(int *v) { *v = 13000; return 0; }');
    mkdirSync(join(d, 'cuda/lib64/stubs'), { recursive: true });
    writeFileSync(join(d, 'cuda/lib64/stubs/libcuda.so'), '');
    const shim = join(d, 'shim');
    const env = { DENSENET_GPU_SITES: join(d, 'site'), CUDA_HOME: join(d, 'cuda'), LD_LIBRARY_PATH: `${join(d, 'cuda/lib64/stubs')}:${join(d, 'old')}` };
    const r = py([join(gpu, 'libs.py'), '--ld-path', shim], env);
    t.is(r.status, 0, r.stderr);
    const path = r.stdout.trim().split(':');
    t.deepEqual(path, [shim, join(d, 'site/nvidia/cu13/lib'), join(d, 'site/nvidia/nccl/lib'), join(d, 'old')], 'shim, CUDA 13 and NCCL first, the old path after, no stubs, no CUDA 12-only folder');
    t.is(readlinkSync(join(shim, 'libcublas.so')), join(d, 'site/nvidia/cu13/lib/libcublas.so.13'));

    // The path check.sh exports: cudarc's first candidate, libcublas.so, is now CUDA 13.
    const pre = (ld: string, driver: string) => py([join(gpu, 'libs.py'), '--preflight'], { LD_LIBRARY_PATH: ld, DENSENET_NCCL_LIB: join(d, 'site/nvidia/nccl/lib/libnccl.so.2') }).stdout + py([join(gpu, 'libs.py'), '--preflight', driver, 'libcublas.so.13', 'libcublas.so', 'libcublas.so.13'], { LD_LIBRARY_PATH: ld }).stdout;
    const good = pre(path.join(':'), join(d, 'new/libcuda.so.1'));
    t.regex(good, /preflight cuBLAS: ok: libcublas\.so: cuBLAS 13/);
    t.regex(good, /preflight driver: ok: .*CUDA 13\.0/);
    t.regex(good, /preflight cuRAND: ok: libcurand\.so\.10 loads/);
    t.regex(good, /preflight CUDA runtime: ok: libcudart\.so\.13 loads/);
    const old = pre(`${join(d, 'old')}:${path.join(':')}`, join(d, 'old/libcuda.so.1'));
    t.regex(old, /preflight driver: FAIL: .*CUDA 12\.4.*CUDA 13 needs driver >= 580/);
    t.regex(old, /preflight cuBLAS: FAIL: libcublas\.so, found first on the library path, is cuBLAS 12/);
    fakeLib(join(d, 'stubs/libcuda.so'), 'int cuDriverGetVersion(int *v) { return 34; }');
    t.regex(pre(path.join(':'), join(d, 'stubs/libcuda.so')), /preflight driver: FAIL: .*CUresult 34.*stub/);
    const none = py([join(gpu, 'libs.py'), '--preflight', join(d, 'none/libcuda.so.1'), 'libcublas.so.13', 'libcublas.so'], { LD_LIBRARY_PATH: join(d, 'old') });
    t.is(none.status, 1);
    t.regex(none.stdout, /preflight driver: FAIL: no NVIDIA driver library .*none\/libcuda\.so\.1/);
    t.regex(none.stdout, /preflight cuBLAS: FAIL: no cuBLAS 13: libcublas\.so\.13 does not load/);
    t.regex(none.stdout, /preflight cuRAND: FAIL: libcurand\.so\.10 does not load .*nvidia-curand/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the bundle: one tarball within 60 MiB (Node included), its manifest, NCCL apart, run from /tmp', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'densenet-gpupack-'));
  try {
    // The CUDA addon when it is built; else any addon stands in (the bound still has room for it).
    const cuda = join(root, 'native', 'densenet.linux-x64-gnu-cuda.node');
    let addon = existsSync(cuda) ? cuda : cpuAddon;
    if (!existsSync(addon)) {
      addon = join(d, 'stand-in.node');
      writeFileSync(addon, Buffer.alloc(8 << 20, 1));
    }
    const nccl = join(d, 'libnccl.so.2');
    copyFileSync(process.execPath, nccl); // big and incompressible enough to push one tarball past the limit
    const out = join(d, 'gpu-check.tgz');
    const r = spawnSync('bash', [join(gpu, 'pack.sh'), out], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath, PACK_CUDA_ADDON: addon, PACK_NCCL: '1', DENSENET_NCCL_LIB: nccl } });
    t.is(r.status, 0, r.stderr);
    const manifest = JSON.parse(readFileSync(join(d, 'gpu-check.manifest.json'), 'utf8')) as { tarballBytes: number; limitBytes: number; files: { path: string; bytes: number }[] };
    t.is(manifest.tarballBytes, statSync(out).size);
    t.is(manifest.limitBytes, LIMIT);
    t.true(manifest.tarballBytes <= LIMIT, `${manifest.tarballBytes} bytes`);
    const paths = manifest.files.map((f) => f.path);
    for (const f of ['check.sh', 'check.py', 'libs.py', 'nvml.py', 'reference.py', 'ours.mjs', 'README.md']) t.true(paths.includes(`gpu-check/benches/gpu/${f}`), f);
    t.true(paths.includes('gpu-check/node/bin/node') && paths.includes('gpu-check/native/densenet.linux-x64-gnu-cuda.node'));
    t.false(paths.some((p) => p.includes('nccl')), 'NCCL never rides in the main tarball');
    t.true(statSync(join(d, 'gpu-check-nccl.tgz')).size > 0);
    const listing = spawnSync('tar', ['tzf', join(d, 'gpu-check-nccl.tgz')], { encoding: 'utf8' }).stdout;
    t.regex(listing, /^gpu-check\/nccl\/lib\/libnccl\.so\.2$/m);

    const small = spawnSync('bash', [join(gpu, 'pack.sh'), join(d, 'tiny.tgz')], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath, PACK_CUDA_ADDON: addon, PACK_MAX_MIB: '1' } });
    t.is(small.status, 1, 'over the limit is an error');
    t.regex(small.stderr, /over the 1 MiB a carry allows/);

    const built = join(root, 'target', 'gpu-check.tgz');
    if (existsSync(built)) t.true(statSync(built).size <= LIMIT, `${built} is ${statSync(built).size} bytes`);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('benches/gpu/README.md: the run command unpacks the tarball under /tmp and runs from there', (t) => {
  const readme = readFileSync(join(gpu, 'README.md'), 'utf8');
  t.regex(readme, /^ {4}tar xzf target\/gpu-check\.tgz -C \/tmp && bash \/tmp\/gpu-check\/benches\/gpu\/check\.sh$/m);
  t.notRegex(readme, /tar xzf gpu-check\.tgz && bash gpu-check\//, 'never unpacked into the carried working tree');
  const pack = readFileSync(join(gpu, 'pack.sh'), 'utf8');
  t.regex(pack, /tar xzf gpu-check\.tgz -C \/tmp && bash \/tmp\/gpu-check\/benches\/gpu\/check\.sh/);
});
