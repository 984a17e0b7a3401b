/**
 * The built package in both module formats, as a user's project sees it: a `.cts` file run by
 * tsx (CommonJS) and an `.mts` file (ESM) import `densenet-sdk`; importing loads nothing heavy
 * (no native addon, no sharp), and both load on first use.
 *
 * The package is built into a temporary directory (scripts/build-ts.mjs --out) and linked into a
 * temporary project as node_modules/densenet-sdk; nothing in the repository is rebuilt.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Records every native module the process loads (process.dlopen), before anything else runs. */
const HOOK = `
globalThis.__dlopened = [];
const dlopen = process.dlopen;
process.dlopen = function (m, file, ...rest) { globalThis.__dlopened.push(file); return dlopen.call(this, m, file, ...rest); };
`;

const BODY = `
const atImport = (globalThis as any).__dlopened.length;
async function main(): Promise<void> {
  const loaded = (): string[] => (globalThis as any).__dlopened;
  const model = DenseNet.create(createConfig({ growthRate: 4, blockConfig: [1, 1], numInitFeatures: 8, numClasses: 3, smallInputs: true }));
  const afterCreate = loaded().filter((f) => /densenet/.test(f)).length;
  const sharpBeforeImages = loaded().filter((f) => /sharp/.test(f)).length;
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  const pred = await model.predictImages(png, { size: 8 });
  let abortCode = '';
  try {
    await model.predict(new Float32Array(3 * 8 * 8), [1, 3, 8, 8], { signal: AbortSignal.abort() });
  } catch (err) {
    abortCode = err instanceof AbortError && err instanceof DenseNetError ? err.code : 'wrong class';
  }
  await model.dispose();
  console.log(JSON.stringify({
    atImport,
    afterCreate,
    sharpBeforeImages,
    sharpAfterImages: loaded().filter((f) => /sharp/.test(f)).length,
    shape: pred.shape,
    abortCode,
    format: typeof module === 'object' && typeof require === 'function' ? 'cjs' : 'esm',
  }));
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

test('a .cts file run by tsx and an .mts file import the built package; nothing heavy loads at import', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'densenet-formats-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The package: a fresh build plus links to the addon, the assets and the dependencies.
  const pkg = join(dir, 'pkg');
  mkdirSync(pkg);
  const build = spawnSync(process.execPath, [join(root, 'scripts/build-ts.mjs'), '--out', join(pkg, 'dist')], { cwd: root, encoding: 'utf8' });
  t.is(build.status, 0, build.stderr);
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  for (const d of ['assets', 'native', 'node_modules']) symlinkSync(join(root, d), join(pkg, d));
  // The user's project.
  const app = join(dir, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(pkg, join(app, 'node_modules', 'densenet-sdk'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  writeFileSync(join(app, 'hook.cjs'), HOOK);
  writeFileSync(join(app, 'consumer.cts'), `import { AbortError, DenseNet, DenseNetError, createConfig } from 'densenet-sdk';\n${BODY}`);
  writeFileSync(join(app, 'consumer.mts'), `import { AbortError, DenseNet, DenseNetError, createConfig } from 'densenet-sdk';\n${BODY}`);

  for (const [file, format] of [['consumer.cts', 'cjs'], ['consumer.mts', 'esm']] as const) {
    // tsx is resolved from the repository (cwd); densenet-sdk from the project's node_modules.
    const r = spawnSync(process.execPath, ['--require', join(app, 'hook.cjs'), '--import', 'tsx', join(app, file)], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, DENSENET_NATIVE_PATH: '' },
    });
    t.is(r.status, 0, `${file}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    t.is(out['format'], format, file);
    t.is(out['atImport'], 0, `${file}: no native module loaded at import`);
    t.is(out['afterCreate'], 1, `${file}: the addon loads with the first model`);
    t.is(out['sharpBeforeImages'], 0, `${file}: sharp waits for the first image`);
    t.true((out['sharpAfterImages'] as number) >= 1, `${file}: sharp loaded for predictImages`);
    t.deepEqual(out['shape'], [1, 3], file);
    t.is(out['abortCode'], 'ABORT_ERR', file);
  }
});
