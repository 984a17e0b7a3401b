/**
 * The loader (ts/native.ts) and the WASM build through the SDK: DENSENET_BACKEND=wasm loads the
 * WASM build and the SDK works on it (create, predict, train, save, load); DENSENET_BACKEND=native
 * forbids the fallback; with no native addon the WASM build is the fallback. Each case runs in its
 * own process (the loader caches per process). A missing WASM build FAILS these tests.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { tempDir } from './helpers/util.js';
import { loadWasm, root } from './helpers/wasm.js';

const BODY = (entry: string): string => `
import { DenseNet, createConfig, loadNativeWithInfo } from ${JSON.stringify(entry)};
const out: Record<string, unknown> = {};
try {
  const { info } = loadNativeWithInfo();
  out.backend = info.backend;
  out.source = info.source;
  const config = createConfig({ growthRate: 4, blockConfig: [1, 1], numInitFeatures: 8, numClasses: 3, smallInputs: true });
  const model = DenseNet.create(config, { seed: 3 });
  const x = new Float32Array(2 * 3 * 8 * 8).map((_, i) => Math.sin(i));
  const r = await model.trainStep(x, [2, 3, 8, 8], new Int32Array([0, 2]));
  out.loss = r.loss;
  const p = await model.predict(x, [2, 3, 8, 8]);
  out.shape = p.shape;
  const path = process.env.OUT_DIR + '/w.safetensors';
  await model.save(path);
  const again = await DenseNet.load(path);
  const q = await again.predict(x, [2, 3, 8, 8]);
  out.same = JSON.stringify(Array.from(q.logits)) === JSON.stringify(Array.from(p.logits));
  try {
    await model.predict(x, [2, 4, 8, 8]);
  } catch (err) {
    out.errorName = (err as Error).name;
    out.errorCode = (err as { code?: string }).code;
  }
  await model.dispose();
  await again.dispose();
} catch (err) {
  out.loadError = (err as Error).name + ': ' + (err as Error).message;
  out.loadCode = (err as { code?: string }).code;
}
console.log(JSON.stringify(out));
`;

function run(env: Record<string, string>, entry = join(root, 'ts/index.ts')): Record<string, unknown> {
  const { dir, cleanup } = tempDir('densenet-loader-');
  try {
    const file = join(dir, 'check.mts');
    writeFileSync(file, BODY(entry));
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, DENSENET_NATIVE_PATH: '', DENSENET_CUDA: '', ...env, OUT_DIR: dir },
    });
    if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  } finally {
    cleanup();
  }
}

test('DENSENET_BACKEND=wasm: the SDK runs on the WASM build', (t) => {
  loadWasm(); // fails the test when the build is missing
  const out = run({ DENSENET_BACKEND: 'wasm' });
  t.is(out['loadError'], undefined);
  t.is(out['backend'], 'wasm');
  t.regex(String(out['source']), /npm\/wasm32\/index\.cjs$/);
  t.true(Number.isFinite(out['loss']));
  t.deepEqual(out['shape'], [2, 3]);
  t.true(out['same']);
  t.is(out['errorName'], 'ShapeError');
  t.is(out['errorCode'], 'ERR_SHAPE');
});

test('DENSENET_BACKEND=native (and the default) load the native addon', (t) => {
  for (const backend of ['native', '']) {
    const out = run({ DENSENET_BACKEND: backend });
    t.is(out['backend'], 'native', backend);
    t.is(out['errorCode'], 'ERR_SHAPE');
  }
});

test('a bad DENSENET_BACKEND is an InvalidArgumentError', (t) => {
  const out = run({ DENSENET_BACKEND: 'gpu' });
  t.regex(String(out['loadError']), /InvalidArgumentError: DENSENET_BACKEND must be 'auto', 'native' or 'wasm', got 'gpu'/);
});

/** A copy of the package without any native addon (no native/, no platform package). */
function packageWithoutNative(dir: string): string {
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'node_modules'), { recursive: true });
  cpSync(join(root, 'ts'), join(pkg, 'ts'), { recursive: true });
  cpSync(join(root, 'assets'), join(pkg, 'assets'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'densenet-sdk', version: '0.0.0', type: 'module' }));
  mkdirSync(join(pkg, 'npm'));
  symlinkSync(join(root, 'npm', 'wasm32'), join(pkg, 'npm', 'wasm32'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('densenet-sdk')) continue;
    symlinkSync(join(root, 'node_modules', name), join(pkg, 'node_modules', name));
  }
  return pkg;
}

test('with no native addon the WASM build is the fallback; DENSENET_BACKEND=native then fails listing what it tried', (t) => {
  loadWasm();
  const { dir, cleanup } = tempDir('densenet-fallback-');
  t.teardown(cleanup);
  const pkg = packageWithoutNative(dir);
  const auto = run({ DENSENET_BACKEND: '' }, join(pkg, 'ts/index.ts'));
  t.is(auto['loadError'], undefined);
  t.is(auto['backend'], 'wasm');
  t.true(auto['same']);
  const native = run({ DENSENET_BACKEND: 'native' }, join(pkg, 'ts/index.ts'));
  t.is(native['loadCode'], 'ERR_NATIVE_LOAD');
  t.regex(String(native['loadError']), /could not load the densenet-sdk native addon for/);
  t.notRegex(String(native['loadError']), /wasm32/);
  const cuda = run({ DENSENET_BACKEND: '', DENSENET_CUDA: '1' }, join(pkg, 'ts/index.ts'));
  t.is(cuda['loadCode'], 'ERR_NATIVE_LOAD', 'a CUDA request never falls back to WASM');
});

test('DenseNet.create and DenseNet.load take a backend option', async (t) => {
  loadWasm();
  const { DenseNet, InvalidArgumentError, loadNativeWithInfo } = await import('../ts/index.js');
  const { TINY, randn } = await import('./helpers/util.js');
  t.is(loadNativeWithInfo({ backend: 'wasm' }).info.backend, 'wasm');
  const w = DenseNet.create(TINY, { backend: 'wasm', seed: 4 });
  const x = randn(2 * 3 * 16 * 16, 5);
  await w.trainStep(x, [2, 3, 16, 16], new Int32Array([1, 2]));
  const { dir, cleanup } = tempDir('densenet-backend-');
  t.teardown(cleanup);
  await w.save(join(dir, 'w.safetensors'));
  const n = await DenseNet.load(join(dir, 'w.safetensors'), null, { backend: 'native' });
  const [a, b] = [await w.predict(x, [2, 3, 16, 16]), await n.predict(x, [2, 3, 16, 16])];
  const worst = Math.max(...Array.from(a.logits, (v, i) => Math.abs(v - b.logits[i]!)));
  t.true(worst <= 1e-5, `wasm vs native logits differ by ${worst}`);
  t.throws(() => DenseNet.create(TINY, { backend: 'gpu' as never }), { instanceOf: InvalidArgumentError, message: /backend must be 'auto', 'native' or 'wasm', got 'gpu'/ });
  await w.dispose();
  await n.dispose();
});
