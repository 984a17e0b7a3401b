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
