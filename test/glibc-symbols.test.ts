// The glibc the native addons need: `objdump -T` on every built native/*.node, its highest
// GLIBC_x.y against the record next to it (scripts/glibc-needs.mjs writes
// <name>.glibc.json; the CUDA build always does), and the loader refusing an addon whose record
// is newer than this system's glibc, before require(), with a typed error naming both versions.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { NativeLoadError } from '../ts/errors.js';
import { compareVersions, glibcRecordPath, glibcShortfall, runtimeGlibc } from '../ts/internal/glibc.js';
import { loadNativeWithInfo } from '../ts/native.js';
import { glibcNeeds, highestGlibc, recordPath } from '../scripts/glibc-needs.mjs';

const root = join(import.meta.dirname, '..');
const haveObjdump = spawnSync('objdump', ['--version']).status === 0;
const addons = existsSync(join(root, 'native')) ? readdirSync(join(root, 'native')).filter((f) => f.endsWith('.node')) : [];

test('the highest GLIBC_ version of objdump -T output, compared numerically', (t) => {
  const text = ['0000 DF *UND* 0000 (GLIBC_2.2.5) malloc', '0000 DF *UND* 0000 (GLIBC_2.34) __libc_start_main', '0000 DF *UND* 0000 (GLIBC_2.9) pipe2', '0000 DF *UND* 0000 (GCC_3.0) _Unwind_Resume'].join('\n');
  t.is(highestGlibc(text), '2.34');
  t.is(highestGlibc('no versions'), undefined);
  t.true(compareVersions('2.28', '2.34') < 0);
  t.true(compareVersions('2.34', '2.9') > 0);
  t.is(compareVersions('2.34', '2.34.0'), 0);
  t.is(recordPath('native/densenet.linux-x64-gnu-cuda.node'), 'native/densenet.linux-x64-gnu-cuda.glibc.json');
  t.is(glibcRecordPath('native/densenet.linux-x64-gnu-cuda.node'), recordPath('native/densenet.linux-x64-gnu-cuda.node'), 'the script and the loader agree on the name');
});

if (!haveObjdump) {
  test.skip('native/*.node: the GLIBC_ versions they need (objdump from binutils is not installed)', () => {});
} else if (addons.length === 0) {
  test.skip('native/*.node: the GLIBC_ versions they need (no addon is built in native/)', () => {});
} else {
  for (const addon of addons) {
    test(`native/${addon}: the glibc its symbols need matches its record`, (t) => {
      const file = join(root, 'native', addon);
      const needs = glibcNeeds(file) as string;
      t.regex(needs, /^2\.\d+/);
      const have = runtimeGlibc();
      if (have) t.true(compareVersions(needs, have) <= 0, `needs ${needs}, this system has ${have}`);
      const record = glibcRecordPath(file);
      if (addon.endsWith('-cuda.node')) t.true(existsSync(record), `scripts/build-cuda.sh records ${record}`);
      if (existsSync(record)) {
        const r = JSON.parse(readFileSync(record, 'utf8')) as { glibc: string; linkedFor?: string };
        t.is(r.glibc, needs);
        // scripts/build-cuda.sh links it for glibc 2.28 (cargo-zigbuild) unless CUDA_GLIBC= opts out.
        if (r.linkedFor) t.true(compareVersions(needs, r.linkedFor) <= 0, `needs ${needs}, linked for ${r.linkedFor}`);
        if (addon.endsWith('-cuda.node')) {
          if (r.linkedFor) t.true(compareVersions(needs, '2.28') <= 0, `the CUDA addon needs glibc ${needs}: more than 2.28`);
          else t.log(`${addon} was built against this machine's glibc (CUDA_GLIBC=): it needs ${needs}`);
        }
      } else t.log(`${addon} needs glibc ${needs} (no record: only the CUDA build writes one)`);
    });
  }
}

/** The libraries the CUDA addon may link: glibc's, and the CUDA ones candle links by soname. */
const CUDA_ADDON_LIBS = new Set(['libcuda.so.1', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libnvrtc.so.13']);
const GLIBC_LIBS = /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2)$/;
const cudaAddon = addons.find((a) => a.endsWith('-cuda.node'));
(haveObjdump && cudaAddon ? test : test.skip)('the CUDA addon links the driver and CUDA 13 libraries by soname and every symbol it binds comes from one of them', (t) => {
  const file = join(root, 'native', cudaAddon!);
  const dynamic = spawnSync('objdump', ['-p', file], { encoding: 'utf8' }).stdout;
  const needed = [...dynamic.matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]!);
  for (const lib of needed) t.true(CUDA_ADDON_LIBS.has(lib) || GLIBC_LIBS.test(lib), `unexpected NEEDED ${lib} (candle-kernels' libmoe/libcudart/libstdc++ must stay out: crates/densenet-cuda/build.rs)`);
  for (const lib of ['libcuda.so.1', 'libcublas.so.13']) t.true(needed.includes(lib), `NEEDED ${lib}: ${needed.join(', ')}`);
  // DF_BIND_NOW (FLAGS bit 0x8): bound at load, so a missing symbol stops the load, not a later call.
  const flags = /^\s*FLAGS\s+0x([0-9a-f]+)/m.exec(dynamic);
  t.true(flags !== null && (parseInt(flags[1]!, 16) & 0x8) !== 0, `FLAGS ${flags?.[1] ?? 'missing'}: BIND_NOW`);
  // Unversioned, non-weak undefined symbols: each must be the driver's, a CUDA library's or Node's.
  const unbound = spawnSync('objdump', ['-T', file], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.includes('*UND*') && !/\(GLIBC_|\(GCC_/.test(l) && !/^\S+\s+w\s/.test(l))
    .map((l) => l.trim().split(/\s+/).pop()!)
    .filter((name) => !/^(cu[A-Z]|cublas|curand|nvrtc|napi_|node_api_)/.test(name));
  t.deepEqual(unbound, [], 'symbols no linked library provides');
});

test('an addon recorded for a newer glibc is refused before require(), naming both versions', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'densenet-glibc-'));
  try {
    const addon = join(dir, 'densenet.linux-x64-gnu-cuda.node');
    writeFileSync(addon, 'not an ELF file: require() must never see it');
    writeFileSync(glibcRecordPath(addon), JSON.stringify({ glibc: '2.34' }));
    const why = glibcShortfall(addon, 'file', '2.31');
    t.regex(why ?? '', /glibc 2\.34 .*this system has glibc 2\.31/);
    t.is(glibcShortfall(addon, 'file', '2.34'), undefined);
    t.is(glibcShortfall(addon, 'file', '2.39'), undefined);
    t.is(glibcShortfall(join(dir, 'none.node'), 'file', '2.17'), undefined, 'no record, no refusal');

    writeFileSync(glibcRecordPath(addon), JSON.stringify({ glibc: '99.0' }));
    const before = process.env.DENSENET_NATIVE_PATH;
    process.env.DENSENET_NATIVE_PATH = addon;
    try {
      const err = t.throws(() => loadNativeWithInfo({ cuda: true }), { instanceOf: NativeLoadError });
      const reason = err!.attempts.find((a) => a.target === addon)?.reason ?? '';
      t.regex(reason, new RegExp(`glibc 99\\.0 .*this system has glibc ${(runtimeGlibc() ?? '').replace(/\./g, '\\.')}`));
      t.notRegex(reason, /invalid ELF|not an ELF/, 'refused before require()');
    } finally {
      if (before === undefined) delete process.env.DENSENET_NATIVE_PATH;
      else process.env.DENSENET_NATIVE_PATH = before;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
