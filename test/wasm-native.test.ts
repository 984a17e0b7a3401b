/**
 * The WASM build against the native addon: three training steps from the same seed and data end
 * with the same weights within float32 rounding; errors carry the same codes (and messages);
 * weights and checkpoints saved by one load in the other. The WASM build is loaded directly
 * (npm/wasm32): when it is missing these tests FAIL, they are not skipped.
 */
import { availableParallelism } from 'node:os';

import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadNativeWithInfo, type NativeBinding, type NativeModel } from '../ts/native.js';
import { TINY, labelsFor, randn, tempDir } from './helpers/util.js';
import { loadWasm, readSafetensors, relMax } from './helpers/wasm.js';

const CONFIG = JSON.stringify(TINY);
const SHAPE = [4, 3, 16, 16];
const N = SHAPE.reduce((a, b) => a * b, 1);

function native(): NativeBinding {
  const loaded = loadNativeWithInfo({ backend: 'native' });
  if (loaded.info.backend !== 'native') throw new Error('expected the native addon');
  return loaded.binding;
}

async function train3(m: NativeModel): Promise<number[]> {
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) {
    const r = await m.trainStep(randn(N, 11 + s), SHAPE, labelsFor(4, 10, s));
    losses.push(r.loss);
  }
  return losses;
}

/** Worst per-tensor max|a − b| / max|b| over two safetensors files, and the tensor names. */
function compareWeights(a: Uint8Array, b: Uint8Array): { worst: number; name: string; names: number } {
  const ta = readSafetensors(a).tensors;
  const tb = readSafetensors(b).tensors;
  if ([...ta.keys()].sort().join() !== [...tb.keys()].sort().join()) throw new Error('different tensor names');
  let worst = 0;
  let name = '';
  for (const [k, v] of ta) {
    const e = relMax(v.data, tb.get(k)!.data);
    if (e > worst) [worst, name] = [e, k];
  }
  return { worst, name, names: ta.size };
}

for (const dtype of ['f32', 'f64'] as const) {
  test(`three training steps natively and in WASM from the same seed give the same weights (${dtype})`, async (t) => {
    const wasm = loadWasm();
    const nat = new (native().NativeModel)(CONFIG, dtype, 5);
    const wm = new wasm.NativeModel(CONFIG, dtype, 5);
    // The same seed gives the same initial weights up to the last bit of the init's libm calls
    // (glibc natively, Rust's libm in wasm32: measured 2e-16 in f64, identical in f32).
    const init = compareWeights(wm.weightsBytes(), await savedBytes(nat));
    t.true(init.worst <= 1e-15, `initial weights: ${init.name} ${init.worst}`);
    const ln = await train3(nat);
    const lw = await train3(wm);
    t.is(wm.step, 3);
    t.is(nat.step, 3);
    const tol = dtype === 'f32' ? 1e-4 : 1e-12;
    for (let s = 0; s < 3; s++) t.true(Math.abs(ln[s]! - lw[s]!) <= tol * Math.abs(ln[s]!), `loss ${s}: native ${ln[s]} wasm ${lw[s]}`);
    const cmp = compareWeights(wm.weightsBytes(), await savedBytes(nat));
    t.log(`${dtype}: worst tensor ${cmp.name} ${cmp.worst.toExponential(2)} over ${cmp.names} tensors; losses ${lw.map((l) => l.toFixed(6)).join(', ')}`);
    t.true(cmp.worst <= tol, `${cmp.name}: ${cmp.worst}`);
    nat.dispose();
    wm.dispose();
  });
}

async function savedBytes(m: NativeModel): Promise<Uint8Array> {
  const { dir, cleanup } = tempDir('densenet-wasm-');
  try {
    const p = join(dir, 'w.safetensors');
    await m.save(p);
    return readFileSync(p);
  } finally {
    cleanup();
  }
}

/** The code and message of what `f` throws or rejects with. */
async function failure(f: () => unknown): Promise<{ code: unknown; message: string }> {
  try {
    await f();
  } catch (err) {
    return { code: (err as { code?: unknown }).code, message: (err as Error).message };
  }
  return { code: 'no error', message: '' };
}

test('errors carry the same codes and messages natively and in WASM', async (t) => {
  const wasm = loadWasm();
  const nat = native();
  const cases: [string, (b: NativeBinding, m: NativeModel) => unknown, boolean][] = [
    ['bad config', (b) => new b.NativeModel('{"growthRate":-1}', 'f32', 1), true],
    ['unknown config field', (b) => new b.NativeModel('{"growthRat":12}', 'f32', 1), true],
    ['bad depth', (b) => b.cifarConfig(11, 12, true, 10), true],
    ['unknown preset', (b) => b.presetConfig('densenet-7'), true],
    ['bad dtype', (b) => new b.NativeModel(CONFIG, 'f16', 1), true],
    ['bad seed', (b) => new b.NativeModel(CONFIG, 'f32', -1), true],
    ['bad optimizer', (b) => b.normalizeOptimizer('{"lr":-1}'), true],
    ['bad schedule', (b) => b.scheduleLr('{"type":"nope"}', 1), true],
    ['wrong shape (length)', (_b, m) => m.predict(new Float32Array(10), SHAPE), true],
    ['wrong shape (channels)', (_b, m) => m.predict(new Float32Array(4 * 4 * 16 * 16), [4, 4, 16, 16]), true],
    ['wrong shape (rank)', (_b, m) => m.predict(new Float32Array(N), [4, 3, 256]), true],
    ['bad label', (_b, m) => m.trainStep(randn(N), SHAPE, new Int32Array([0, 1, 10, 2])), true],
    ['negative label', (_b, m) => m.evalStep(randn(N), SHAPE, new Int32Array([0, -1, 1, 2])), true],
    ['label count', (_b, m) => m.trainStep(randn(N), SHAPE, new Int32Array([0, 1])), true],
    ['non-finite input', (_b, m) => m.predict(randn(N).fill(Number.NaN, 5, 6), SHAPE), true],
    ['infinite input in training', (_b, m) => m.trainStep(randn(N).fill(Infinity, 0, 1), SHAPE, labelsFor(4, 10)), true],
    ['bad memory mode', (_b, m) => m.setMemoryMode('lazy'), true],
    ['bad optimizer on a model', (_b, m) => m.setOptimizer('{"momentum":2}'), true],
    ['bad memory budget', (_b, m) => m.setMemoryBudget(-5), true],
    // (a training step: its estimate is the same on both; a predict needs less natively where the
    // kernels fuse BN-ReLU into the convolutions)
    ['over the memory budget', (_b, m) => (m.setMemoryBudget(1000), m.trainStep(randn(N), SHAPE, labelsFor(4, 10))), true],
    ['reserved metadata key', (_b, m) => m.save('/nonexistent-dir/x.safetensors', '{"densenet.config":"x"}'), true],
    ['missing weights file', (_b, m) => m.load('/nonexistent-dir/x.safetensors'), false],
    ['weights path is a directory', (_b, m) => m.load('/tmp'), true],
    ['checkpoint path is a directory', (_b, m) => m.loadCheckpoint('/tmp'), true],
    ['save to a directory', (_b, m) => m.save('/tmp'), true],
  ];
  for (const [what, f, sameMessage] of cases) {
    const nm = new nat.NativeModel(CONFIG, 'f32', 1);
    const wm = new wasm.NativeModel(CONFIG, 'f32', 1);
    const a = await failure(() => f(nat, nm));
    const b = await failure(() => f(wasm, wm));
    t.not(a.code, 'no error', `${what}: native did not fail`);
    t.is(b.code, a.code, `${what}: native ${String(a.code)} (${a.message}), wasm ${String(b.code)} (${b.message})`);
    if (sameMessage) t.is(b.message, a.message, what);
    nm.dispose();
    wm.dispose();
  }
  // A disposed model.
  const nm = new nat.NativeModel(CONFIG, 'f32', 1);
  const wm = new wasm.NativeModel(CONFIG, 'f32', 1);
  nm.dispose();
  wm.dispose();
  for (const f of [(m: NativeModel) => m.predict(randn(N), SHAPE), (m: NativeModel) => m.paramCount(), (m: NativeModel) => m.setOptimizer('{}')]) {
    const a = await failure(() => f(nm));
    const b = await failure(() => f(wm));
    t.is(b.code, 'ERR_INVALID_ARG');
    t.deepEqual(b, a);
  }
  // load() of a disposed model: ERR_INVALID_ARG before touching the file in WASM (the native
  // binding reads the file first and reports ERR_IO for a missing one).
  t.is((await failure(() => wm.load('/nonexistent-dir/x.safetensors'))).code, 'ERR_INVALID_ARG');
  // Weights of another config.
  const other = new wasm.NativeModel(wasm.cifarConfig(10, 4, true, 10), 'f32', 1);
  const w = other.weightsBytes();
  const wm2 = new wasm.NativeModel(CONFIG, 'f32', 1);
  const e = await failure(() => wm2.loadWeightsBytes(w, 'other.safetensors'));
  t.is(e.code, 'ERR_WEIGHTS', e.message);
  t.regex(e.message, /other\.safetensors/);
});

test('weights and checkpoints saved in WASM load natively, and the other way round', async (t) => {
  const wasm = loadWasm();
  const nat = native();
  const { dir, cleanup } = tempDir('densenet-wasm-');
  t.teardown(cleanup);
  const x = randn(N, 3);

  // WASM → native: weights (with metadata) after training.
  const wm = new wasm.NativeModel(CONFIG, 'f32', 9);
  await train3(wm);
  await wm.save(join(dir, 'wasm.safetensors'), JSON.stringify({ 'densenet.preprocessing': '{"size":16}' }));
  const nm = new nat.NativeModel(CONFIG, 'f32', 0);
  await nm.load(join(dir, 'wasm.safetensors'));
  t.true(relMax(await nm.predict(x, SHAPE), await wm.predict(x, SHAPE)) <= 1e-5);
  t.is(readSafetensors(readFileSync(join(dir, 'wasm.safetensors'))).metadata['densenet.preprocessing'], '{"size":16}');

  // Native → WASM: checkpoint (weights, BN statistics, momentum, step, extra JSON).
  const nm2 = new nat.NativeModel(CONFIG, 'f32', 4);
  await train3(nm2);
  await nm2.saveCheckpoint(join(dir, 'native.ckpt'), '{"epoch":7}');
  const wm2 = new wasm.NativeModel(CONFIG, 'f32', 0);
  t.is(await wm2.loadCheckpoint(join(dir, 'native.ckpt')), '{"epoch":7}');
  t.is(wm2.step, 3);
  t.is(wm2.optimizerJson(), nm2.optimizerJson());
  // The next step continues identically (momentum restored).
  const a = await nm2.trainStep(randn(N, 21), SHAPE, labelsFor(4, 10, 5));
  const b = await wm2.trainStep(randn(N, 21), SHAPE, labelsFor(4, 10, 5));
  t.true(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(a.loss), `${a.loss} vs ${b.loss}`);
  t.true(relMax(await wm2.predict(x, SHAPE), await nm2.predict(x, SHAPE)) <= 1e-4);

  // WASM checkpoint → native; native weights → WASM bytes.
  await wm2.saveCheckpoint(join(dir, 'wasm.ckpt'), '{"epoch":8}');
  const nm3 = new nat.NativeModel(CONFIG, 'f32', 0);
  t.is(await nm3.loadCheckpoint(join(dir, 'wasm.ckpt')), '{"epoch":8}');
  t.is(nm3.step, 4);
  await nm3.save(join(dir, 'native.safetensors'));
  const wm3 = new wasm.NativeModel(CONFIG, 'f32', 0);
  wm3.loadWeightsBytes(readFileSync(join(dir, 'native.safetensors')), 'native.safetensors');
  t.deepEqual(Array.from(await wm3.predict(x, SHAPE)), Array.from(await wm2.predict(x, SHAPE)));
  // A checkpoint given to load() says so in both.
  const c1 = await failure(() => nm3.load(join(dir, 'wasm.ckpt')));
  const c2 = await failure(() => wm3.load(join(dir, 'wasm.ckpt')));
  t.deepEqual(c2, c1);
  for (const m of [wm, nm, nm2, wm2, nm3, wm3]) m.dispose();
});

test('the WASM build in Node runs its pool on every usable core (DENSENET_WASM_THREADS unset), GEMM with SIMD128', (t) => {
  const want = process.env.DENSENET_WASM_THREADS ? Number(process.env.DENSENET_WASM_THREADS) : Math.min(64, availableParallelism());
  t.is(loadWasm().currentNumThreads(), want);
  t.true(loadWasm().gemmSimd128(), 'gemm must dispatch to its SIMD128 kernels (2.6x faster than scalar)');
});
