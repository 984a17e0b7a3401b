import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import test from 'ava';
import sharp from 'sharp';

import {
  DTypeError,
  DenseNet,
  DenseNetError,
  ImageError,
  InvalidArgumentError,
  IoError,
  LabelError,
  NonFiniteError,
  Prediction,
  ShapeError,
  WeightsError,
  imagesToTensor,
  loadNative,
} from '../ts/index.js';
import { toDenseNetError } from '../ts/errors.js';
import { CIFAR_MEAN, CIFAR_STD } from '../ts/model.js';
import { TINY, allFinite, labelsFor, maxAbsDiff, randn, tempDir } from './helpers/util.js';

// --- the event loop test runs first and alone (ava runs serial tests before concurrent ones) ---

test.serial('the event loop stays responsive during a densenet121 224x224 batch-4 predict', async (t) => {
  const model = DenseNet.create('densenet121', { seed: 3 });
  const shape = [4, 3, 224, 224] as const;
  const input = randn(4 * 3 * 224 * 224, 5);
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const start = performance.now();
  const pred = await model.predict(input, shape);
  const elapsed = performance.now() - start;
  clearInterval(timer);
  t.log(`predict took ${elapsed.toFixed(0)} ms; ${ticks} timer ticks, largest gap ${maxGap.toFixed(1)} ms`);
  t.deepEqual(pred.shape, [4, 1000]);
  t.is(pred.logits.length, 4000);
  t.true(allFinite(pred.logits));
  // A blocking call would give ~0 ticks and one gap as long as the whole predict.
  t.true(ticks >= Math.min(10, elapsed / 5 / 4), `only ${ticks} ticks in ${elapsed} ms`);
  t.true(maxGap < Math.max(250, elapsed / 4), `largest gap ${maxGap} ms of ${elapsed} ms`);
});

// --- predict ---

test('predict returns N*classes finite logits (densenet-bc-100, batch 3)', async (t) => {
  const model = DenseNet.create('densenet-bc-100', { seed: 1 });
  const pred = await model.predict(randn(3 * 3 * 32 * 32), [3, 3, 32, 32]);
  t.true(pred instanceof Prediction);
  t.deepEqual(pred.shape, [3, 10]);
  t.true(pred.logits instanceof Float32Array);
  t.is(pred.logits.length, 30);
  t.true(allFinite(pred.logits));
  const top = pred.topK(5);
  t.is(top.length, 3);
  for (const row of top) {
    t.is(row.length, 5);
    for (let i = 1; i < row.length; i++) t.true(row[i - 1]!.logit >= row[i]!.logit);
  }
});

test('same seed gives the same weights; another seed gives others', async (t) => {
  const input = randn(2 * 3 * 16 * 16, 11);
  const a = await DenseNet.create(TINY, { seed: 42 }).predict(input, [2, 3, 16, 16]);
  const b = await DenseNet.create(TINY, { seed: 42 }).predict(input, [2, 3, 16, 16]);
  const c = await DenseNet.create(TINY, { seed: 43 }).predict(input, [2, 3, 16, 16]);
  t.deepEqual(a.logits, b.logits);
  t.notDeepEqual(a.logits, c.logits);
});

test('f64 models predict finite logits', async (t) => {
  const model = DenseNet.create(TINY, { dtype: 'f64', seed: 1 });
  t.is(model.dtype, 'f64');
  const pred = await model.predict(randn(2 * 3 * 16 * 16), [2, 3, 16, 16]);
  t.is(pred.logits.length, 20);
  t.true(allFinite(pred.logits));
});

test('concurrent calls on one model are serialized and agree', async (t) => {
  const model = DenseNet.create(TINY, { seed: 9 });
  const input = randn(2 * 3 * 16 * 16, 3);
  const results = await Promise.all([1, 2, 3].map(() => model.predict(input, [2, 3, 16, 16])));
  t.deepEqual(results[0]!.logits, results[1]!.logits);
  t.deepEqual(results[0]!.logits, results[2]!.logits);
});

// --- argument validation: typed errors, the process survives ---

test('wrong shape rank, length, channels or dims give ShapeError', async (t) => {
  const model = DenseNet.create(TINY);
  const x = randn(2 * 3 * 16 * 16);
  await t.throwsAsync(model.predict(x, [2, 3, 256]), { instanceOf: ShapeError, message: /4 dimensions/ });
  await t.throwsAsync(model.predict(x, [2, 3, 16, 16, 1]), { instanceOf: ShapeError });
  await t.throwsAsync(model.predict(x, [2, 3, 16, 15]), { instanceOf: ShapeError, message: /1536.*1440|needs 1440/ });
  await t.throwsAsync(model.predict(randn(2 * 1 * 16 * 16), [2, 1, 16, 16]), { instanceOf: ShapeError, message: /inChannels/ });
  await t.throwsAsync(model.predict(x, [2, 3, 16.5, 16]), { instanceOf: ShapeError, message: /shape\[2\]/ });
  await t.throwsAsync(model.predict(x, [0, 3, 16, 16]), { instanceOf: ShapeError, message: /shape\[0\]/ });
  await t.throwsAsync(model.predict(x, 'nope' as unknown as number[]), { instanceOf: ShapeError });
  const err = await t.throwsAsync(model.predict(x, [2, 3, 16, 15]));
  t.true(err instanceof DenseNetError);
  t.is((err as DenseNetError).code, 'ERR_SHAPE');
});

test('a Float64Array, a plain array or a Uint8Array input gives DTypeError', async (t) => {
  const model = DenseNet.create(TINY);
  const n = 2 * 3 * 16 * 16;
  await t.throwsAsync(model.predict(new Float64Array(n) as unknown as Float32Array, [2, 3, 16, 16]), {
    instanceOf: DTypeError,
    message: /Float32Array.*Float64Array/,
  });
  await t.throwsAsync(model.predict(Array.from(randn(n)) as unknown as Float32Array, [2, 3, 16, 16]), {
    instanceOf: DTypeError,
    message: /plain Array/,
  });
  await t.throwsAsync(model.predict(new Uint8Array(n) as unknown as Float32Array, [2, 3, 16, 16]), { instanceOf: DTypeError });
  await t.throwsAsync(model.predict(undefined as unknown as Float32Array, [2, 3, 16, 16]), { instanceOf: DTypeError });
});

test('NaN / Infinity in the input give NonFiniteError naming the index', async (t) => {
  const model = DenseNet.create(TINY);
  const x = randn(2 * 3 * 16 * 16);
  x[17] = Number.NaN;
  await t.throwsAsync(model.predict(x, [2, 3, 16, 16]), { instanceOf: NonFiniteError, message: /input\[17\]/ });
  x[17] = 0;
  x[100] = Infinity;
  await t.throwsAsync(model.trainStep(x, [2, 3, 16, 16], labelsFor(2, 10)), { instanceOf: NonFiniteError, message: /input\[100\]/ });
});

test('labels out of range give LabelError naming the index and the value', async (t) => {
  const model = DenseNet.create(TINY);
  const x = randn(3 * 3 * 16 * 16);
  const shape = [3, 3, 16, 16];
  const e1 = await t.throwsAsync(model.trainStep(x, shape, Int32Array.from([0, 10, 3])), { instanceOf: LabelError });
  t.regex(e1!.message, /labels\[1\]/);
  t.regex(e1!.message, /\b10\b/);
  const e2 = await t.throwsAsync(model.evalStep(x, shape, Int32Array.from([0, 1, -1])), { instanceOf: LabelError });
  t.regex(e2!.message, /labels\[2\]/);
  t.regex(e2!.message, /-1/);
  await t.throwsAsync(model.trainStep(x, shape, Int32Array.from([0, 1])), { instanceOf: LabelError, message: /length 2.*3 samples/ });
  await t.throwsAsync(model.trainStep(x, shape, Float32Array.from([0, 1, 2]) as unknown as Int32Array), {
    instanceOf: DTypeError,
    message: /Int32Array/,
  });
  await t.throwsAsync(model.trainStep(x, shape, [0, 1, 2] as unknown as Int32Array), { instanceOf: DTypeError });
});

test('native-side errors carry their code as a property (no message prefix) and map to typed errors; the process survives', async (t) => {
  const { NativeModel } = loadNative();
  const native = new NativeModel(JSON.stringify(TINY), 'f32', 0);
  const x = randn(2 * 3 * 16 * 16);
  // Bypass the TypeScript checks: the native core must reject these itself, without crashing.
  const shapeErr = await t.throwsAsync(native.predict(x, [2, 3, 16, 15]));
  t.is((shapeErr as Error & { code?: string }).code, 'ERR_SHAPE');
  t.false(shapeErr!.message.startsWith('['));
  t.true(toDenseNetError(shapeErr) instanceof ShapeError);
  const rankErr = await t.throwsAsync(native.predict(x, [2, 3, 256]));
  t.is((rankErr as Error & { code?: string }).code, 'ERR_SHAPE');
  const chanErr = await t.throwsAsync(native.predict(randn(2 * 1 * 16 * 16), [2, 1, 16, 16]));
  t.is((chanErr as Error & { code?: string }).code, 'ERR_SHAPE');
  const labelErr = await t.throwsAsync(native.trainStep(x, [2, 3, 16, 16], Int32Array.from([0, 10])));
  t.is((labelErr as Error & { code?: string }).code, 'ERR_LABEL');
  t.true(toDenseNetError(labelErr) instanceof LabelError);
  // The model is still usable afterwards.
  const ok = await native.predict(x, [2, 3, 16, 16]);
  t.is(ok.length, 20);
});

test('an input too small for the network gives ShapeError from the native core', async (t) => {
  const model = DenseNet.create('densenet121');
  // 8x8 -> stem /4 = 2x2 -> three transitions cannot halve it three times.
  await t.throwsAsync(model.predict(randn(1 * 3 * 8 * 8), [1, 3, 8, 8]), { instanceOf: ShapeError });
});

// --- save / load ---

test('save -> load round-trip gives identical logits (instance and static load)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'bc100.safetensors');
  const input = randn(2 * 3 * 32 * 32, 21);
  const a = DenseNet.create('densenet-bc-100', { seed: 1 });
  // Train one step first so the BN running statistics are not their initial values.
  a.setOptimizer({ lr: 0.1 });
  await a.trainStep(input, [2, 3, 32, 32], labelsFor(2, 10));
  const before = await a.predict(input, [2, 3, 32, 32]);
  await a.save(path);

  const b = DenseNet.create('densenet-bc-100', { seed: 2 });
  t.notDeepEqual((await b.predict(input, [2, 3, 32, 32])).logits, before.logits);
  await b.load(path);
  t.deepEqual((await b.predict(input, [2, 3, 32, 32])).logits, before.logits);

  const c = await DenseNet.load(path, 'densenet-bc-100');
  t.deepEqual((await c.predict(input, [2, 3, 32, 32])).logits, before.logits);
});

test('loading a missing file is an IoError; weights of another architecture are a WeightsError', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const model = DenseNet.create(TINY);
  await t.throwsAsync(model.load(join(dir, 'missing.safetensors')), { instanceOf: IoError });
  await t.throwsAsync(DenseNet.load(join(dir, 'missing.safetensors'), TINY), { instanceOf: IoError });

  const tiny = join(dir, 'tiny.safetensors');
  await model.save(tiny);
  const other = DenseNet.create('densenet-bc-100');
  await t.throwsAsync(other.load(tiny), { instanceOf: WeightsError });

  const garbage = join(dir, 'garbage.safetensors');
  writeFileSync(garbage, Buffer.from('this is not a safetensors file'));
  const err = await t.throwsAsync(model.load(garbage));
  t.true(err instanceof DenseNetError, String(err));
  t.true(['ERR_WEIGHTS', 'ERR_IO'].includes((err as DenseNetError).code), (err as DenseNetError).code);
  // Still usable after the failed loads.
  t.is((await model.predict(randn(3 * 16 * 16), [1, 3, 16, 16])).logits.length, 10);
});

test('checkpoint round-trip restores weights and the caller state', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'ckpt.safetensors');
  const x = randn(4 * 3 * 16 * 16, 4);
  const y = labelsFor(4, 10);
  const a = DenseNet.create(TINY, { seed: 1 });
  a.setOptimizer({ lr: 0.05 });
  await a.trainStep(x, [4, 3, 16, 16], y);
  await a.saveCheckpoint(path, { epoch: 3, order: [2, 0, 1] });
  const b = DenseNet.create(TINY, { seed: 5 });
  b.setOptimizer({ lr: 0.05 });
  t.deepEqual(await b.loadCheckpoint(path), { epoch: 3, order: [2, 0, 1] });
  t.is(b.step, 1);
  t.deepEqual((await b.predict(x, [4, 3, 16, 16])).logits, (await a.predict(x, [4, 3, 16, 16])).logits);
  // Optimizer state (momentum) restored: the next step matches.
  const sa = await a.trainStep(x, [4, 3, 16, 16], y);
  const sb = await b.trainStep(x, [4, 3, 16, 16], y);
  t.true(Math.abs(sa.loss - sb.loss) < 1e-6, `${sa.loss} vs ${sb.loss}`);
  t.deepEqual((await b.predict(x, [4, 3, 16, 16])).logits, (await a.predict(x, [4, 3, 16, 16])).logits);
});

// --- training API ---

test('trainStep lowers the loss on a fixed batch; evalStep matches predict', async (t) => {
  const model = DenseNet.create(TINY, { seed: 1 });
  model.setOptimizer({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
  const n = 8;
  const shape = [n, 3, 16, 16];
  const x = randn(n * 3 * 16 * 16, 2);
  const y = labelsFor(n, 10);
  const losses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await model.trainStep(x, shape, y);
    t.true(Number.isFinite(r.loss));
    t.true(Number.isInteger(r.correct) && r.correct >= 0 && r.correct <= n);
    losses.push(r.loss);
  }
  t.log(`loss ${losses[0]!.toFixed(4)} -> ${losses.at(-1)!.toFixed(4)}`);
  t.true(losses.at(-1)! < losses[0]!);
  t.is(model.step, 20);
  model.setLearningRate(0.01);
  t.deepEqual(model.optimizer, { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
  const ev = await model.evalStep(x, shape, y);
  t.true(Number.isFinite(ev.loss));
  t.deepEqual(ev.prediction.shape, [n, 10]);
  const pred = await model.predict(x, shape);
  t.true(maxAbsDiff(ev.prediction.logits, pred.logits) < 1e-5);
  const argmax = pred.argmax();
  t.is(ev.correct, Array.from(argmax).filter((c, i) => c === y[i]).length);
});

test("memory modes: 'efficient' by default, 'naive' gives the same step; invalid modes are rejected", async (t) => {
  const x = randn(4 * 3 * 16 * 16, 8);
  const y = labelsFor(4, 10);
  const eff = DenseNet.create(TINY, { seed: 3 });
  const naive = DenseNet.create(TINY, { seed: 3 });
  t.is(eff.memoryMode, 'efficient');
  naive.setMemoryMode('naive');
  t.is(naive.memoryMode, 'naive');
  for (const m of [eff, naive]) m.setOptimizer({ lr: 0.1 });
  const a = await eff.trainStep(x, [4, 3, 16, 16], y);
  const b = await naive.trainStep(x, [4, 3, 16, 16], y);
  t.true(Math.abs(a.loss - b.loss) < 1e-5, `${a.loss} vs ${b.loss}`);
  const pa = await eff.predict(x, [4, 3, 16, 16]);
  const pb = await naive.predict(x, [4, 3, 16, 16]);
  t.true(maxAbsDiff(pa.logits, pb.logits) < 1e-3, `max diff ${maxAbsDiff(pa.logits, pb.logits)}`);
  t.throws(() => eff.setMemoryMode('checkpointed' as 'naive'), { instanceOf: InvalidArgumentError });
  t.throws(() => {
    eff.memoryMode = 'fast' as 'naive';
  }, { instanceOf: InvalidArgumentError });
  eff.memoryMode = 'naive';
  t.is(eff.memoryMode, 'naive');
});

test('optimizer settings are validated', (t) => {
  const model = DenseNet.create(TINY);
  t.throws(() => model.setOptimizer({ lr: -1 }), { instanceOf: InvalidArgumentError, message: /lr/ });
  t.throws(() => model.setOptimizer({ lr: 0.1, momentum: 1.5 }), { instanceOf: InvalidArgumentError, message: /momentum/ });
  t.throws(() => model.setOptimizer({ lr: 0.1, weightDecay: -1 }), { instanceOf: InvalidArgumentError, message: /weightDecay/ });
  t.throws(() => model.setLearningRate(-0.1), { instanceOf: InvalidArgumentError, message: /lr/ });
  t.throws(() => model.setLearningRate(Infinity), { instanceOf: InvalidArgumentError });
  t.throws(() => model.setLearningRate(Number.NaN), { instanceOf: InvalidArgumentError });
  t.notThrows(() => model.setOptimizer({ lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 }));
  t.deepEqual(model.optimizer, { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 });
  t.throws(() => model.setThreads(-1), { instanceOf: InvalidArgumentError, message: /threads/ });
  t.notThrows(() => model.setThreads(1));
});

test('create validates dtype and seed', (t) => {
  t.throws(() => DenseNet.create(TINY, { dtype: 'f16' as 'f32' }), { instanceOf: InvalidArgumentError, message: /dtype/ });
  t.throws(() => DenseNet.create(TINY, { seed: -1 }), { instanceOf: InvalidArgumentError, message: /seed/ });
  t.throws(() => DenseNet.create(TINY, { seed: 0.5 }), { instanceOf: InvalidArgumentError, message: /seed/ });
});

// --- summary ---

test('summary: stage params add up to the parameter count (densenet-bc-100, 32x32)', (t) => {
  const model = DenseNet.create('densenet-bc-100');
  const s = model.summary(32, 32);
  t.deepEqual(s.inputSize, [32, 32]);
  t.is(s.total, model.parameterCount);
  t.is(s.stages.reduce((a, st) => a + st.params, 0), s.total);
  t.true(s.stages.some((st) => st.outputShape.join("x") === "216x32x32"), JSON.stringify(s.stages));
});

test("summary of densenet121 at 224x224 has Table 1's output sizes", (t) => {
  const model = DenseNet.create('densenet121');
  const s = model.summary(224, 224);
  t.is(s.total, 7_978_856);
  t.is(s.stages.reduce((a, st) => a + st.params, 0), s.total);
  const shapes = s.stages.map((st) => st.outputShape.join('x'));
  t.log(s.stages.map((st) => `${st.name}: ${st.outputShape.join('x')} ${st.params}`).join('\n'));
  for (const want of ['64x56x56', '256x56x56', '128x28x28', '512x28x28', '256x14x14', '1024x14x14', '512x7x7', '1024x7x7']) {
    t.true(shapes.includes(want), `missing stage output ${want}; got ${shapes.join(', ')}`);
  }
  t.throws(() => model.summary(0, 224), { instanceOf: InvalidArgumentError });
});

// --- Prediction helpers ---

test('Prediction.topK / argmax / probabilities', (t) => {
  const p = new Prediction(Float32Array.from([1, 3, 2, 0, 0, 0, 5, -1]), [2, 4]);
  t.deepEqual(Array.from(p.argmax()), [1, 2]);
  const top = p.topK(3);
  t.deepEqual(top.map((r) => r.map((e) => e.index)), [
    [1, 2, 0],
    [2, 0, 1],
  ]);
  const probs = p.probabilities();
  t.true(Math.abs(probs.subarray(0, 4).reduce((a, b) => a + b, 0) - 1) < 1e-6);
  t.true(Math.abs(top[0]![0]!.probability - Math.exp(3) / (Math.exp(1) + Math.exp(3) + Math.exp(2) + 1)) < 1e-6);
  t.is(p.topK(10)[0]!.length, 4);
  t.throws(() => p.topK(0), { instanceOf: InvalidArgumentError });
  t.deepEqual(Array.from(p.row(1)), [0, 0, 5, -1]);
  t.throws(() => new Prediction(new Float32Array(3), [2, 2]), { instanceOf: ShapeError });
});

// --- images ---

test('imagesToTensor: resize/center-crop and normalization of a solid-colour PNG', async (t) => {
  const png = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 0, b: 128 } } })
    .png()
    .toBuffer();
  const { data, shape } = await imagesToTensor([png], { size: 8, mean: CIFAR_MEAN, std: CIFAR_STD });
  t.deepEqual(shape, [1, 3, 8, 8]);
  const expect = [255, 0, 128].map((v, c) => (v / 255 - CIFAR_MEAN[c]!) / CIFAR_STD[c]!);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 64; i++) t.true(Math.abs(data[c * 64 + i]! - expect[c]!) < 1e-5);
  }
  // A grayscale image with alpha becomes 3 channels.
  const gray = await sharp({ create: { width: 9, height: 12, channels: 4, background: { r: 100, g: 100, b: 100, alpha: 0.5 } } })
    .greyscale()
    .png()
    .toBuffer();
  const g = await imagesToTensor([gray], { size: 9, mean: [0], std: [1] });
  t.deepEqual(g.shape, [1, 3, 9, 9]);
  t.true(Math.abs(g.data[0]! - 100 / 255) < 0.01);
  // Center crop: the middle column of a left-black / right-white image is kept centered.
  const half = Buffer.alloc(4 * 2 * 3);
  for (let y = 0; y < 2; y++) for (let x = 2; x < 4; x++) half.fill(255, (y * 4 + x) * 3, (y * 4 + x) * 3 + 3);
  const lr = await sharp(half, { raw: { width: 4, height: 2, channels: 3 } }).png().toBuffer();
  const crop = await imagesToTensor([lr], { size: 2, mean: [0], std: [1] });
  t.deepEqual(Array.from(crop.data.subarray(0, 4)).map((v) => Math.round(v)), [0, 1, 0, 1]);
});

test('predictImages decodes files and buffers and equals predict on the same tensor', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = join(dir, 'a.png');
  const raw = Buffer.from(Array.from({ length: 48 * 40 * 3 }, (_, i) => (i * 37) % 256));
  await sharp(raw, { raw: { width: 48, height: 40, channels: 3 } }).png().toFile(file);
  const buf = await sharp(raw, { raw: { width: 48, height: 40, channels: 3 } }).jpeg().toBuffer();
  const model = DenseNet.create('densenet-bc-100', { seed: 4 });
  const pred = await model.predictImages([file, buf], { size: 32 });
  t.deepEqual(pred.shape, [2, 10]);
  t.true(allFinite(pred.logits));
  const tensor = await imagesToTensor([file, buf], { size: 32, mean: CIFAR_MEAN, std: CIFAR_STD });
  t.deepEqual((await model.predict(tensor.data, tensor.shape)).logits, pred.logits);

  await t.throwsAsync(model.predictImages([join(dir, 'missing.png')]), { instanceOf: IoError, message: /missing\.png/ });
  await t.throwsAsync(model.predictImages([Buffer.from('not an image')]), { instanceOf: ImageError });
  await t.throwsAsync(model.predictImages([]), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(model.predictImages([file], { size: 0 }), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(model.predictImages([file], { mean: [0, 0] }), { instanceOf: InvalidArgumentError, message: /mean/ });
});
