/**
 * Preprocessing stored with the weights: `save(path, { preprocessing })`, `DenseNet.load(path)`
 * without a config, `model.preprocessing`, its use by `predictImages` / `evaluate` / the CLI, the
 * training loop storing it, and the acceptance check (`densenet train --epochs 1` then
 * `densenet predict` of a rendered MNIST 3 with no preprocessing flags).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import sharp from 'sharp';

import {
  DenseNet,
  InvalidArgumentError,
  NORMALIZATION,
  SubsetDataset,
  WeightsError,
  evaluate,
  imagesToTensor,
  loadDataset,
  loadNative,
  loadImageFolder,
  loadTrainingData,
  readWeightsInfo,
  train,
  trainingPreprocessing,
  type ModelConfig,
  type Preprocessing,
} from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import { CHILD_CONFIG } from './helpers/train-fixtures.js';
import { cli } from './helpers/cli.js';
import { maxAbsDiff, tempDir } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const GRAY: ModelConfig = { ...CHILD_CONFIG, numClasses: 3, dropRate: 0 };
const PP: Preprocessing = { inputSize: [12, 10], channels: 1, mean: [0.2], std: [0.5], classNames: ['a', 'b', 'c'] };

/** A grayscale gradient PNG of `w`×`h`. */
function gradient(w: number, h: number): Promise<Buffer> {
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = (x * 13 + y * 7) % 256;
  return sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
}

test('save stores the preprocessing and the architecture; DenseNet.load(path) needs no config and restores both', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'w.safetensors');
  const a = DenseNet.create(GRAY, { seed: 3 });
  t.is(a.preprocessing, null);
  await a.save(path, { preprocessing: PP, metadata: { author: 'test' } });
  const info = readWeightsInfo(path);
  t.deepEqual(info.preprocessing, PP);
  t.deepEqual(info.config, a.config);
  t.is(info.metadata['author'], 'test');
  t.deepEqual(JSON.parse(info.metadata['densenet.preprocessing']!), PP);

  const b = await DenseNet.load(path);
  t.deepEqual(b.config, a.config);
  t.deepEqual(b.preprocessing, PP);
  const x = new Float32Array(2 * 12 * 10).map((_, i) => Math.sin(i));
  t.deepEqual((await b.predict(x, [2, 1, 12, 10])).logits, (await a.predict(x, [2, 1, 12, 10])).logits);
  // The model's preprocessing is saved by default, and `null` saves none.
  await b.save(join(dir, 'again.safetensors'));
  t.deepEqual(readWeightsInfo(join(dir, 'again.safetensors')).preprocessing, PP);
  await b.save(join(dir, 'none.safetensors'), { preprocessing: null });
  t.is(readWeightsInfo(join(dir, 'none.safetensors')).preprocessing, null);
  t.is((await DenseNet.load(join(dir, 'none.safetensors'))).preprocessing, null);
  // An explicit config still works (and must fit the weights).
  t.deepEqual((await DenseNet.load(path, GRAY)).preprocessing, PP);
  await t.throwsAsync(DenseNet.load(path, { ...GRAY, growthRate: 6 }), { instanceOf: WeightsError });
});

test('a file without a stored architecture needs a config: a clear WeightsError naming the path', async (t) => {
  const tv = join(root, 'crates/densenet-cpu/tests/fixtures/torchvision_small.safetensors');
  t.is(readWeightsInfo(tv).config, null);
  const err = await t.throwsAsync(DenseNet.load(tv), { instanceOf: WeightsError });
  t.true(err!.message.includes(tv));
  t.regex(err!.message, /config/);
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const notSafetensors = join(dir, 'x.safetensors');
  (await import('node:fs')).writeFileSync(notSafetensors, 'hello');
  await t.throwsAsync(DenseNet.load(notSafetensors), { instanceOf: WeightsError, message: /not a safetensors file/ });
});

test('bad preprocessing and metadata are typed errors naming the field', async (t) => {
  const m = DenseNet.create(GRAY);
  const bad: [unknown, RegExp][] = [
    [{ ...PP, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] }, /channels must be the model's inChannels 1/],
    [{ ...PP, std: [0] }, /std/],
    [{ ...PP, mean: [0, 0] }, /mean/],
    [{ ...PP, inputSize: [12] }, /inputSize/],
    [{ ...PP, inputSize: [0, 4] }, /inputSize/],
    [{ ...PP, classNames: ['a'] }, /classNames must be 3 names/],
    [{ ...PP, resize: 4 }, /resize/],
    [{ ...PP, extra: 1 }, /unknown preprocessing field "extra"/],
    [[28, 28], /preprocessing/],
  ];
  for (const [p, msg] of bad) {
    t.throws(() => m.setPreprocessing(p as Preprocessing), { instanceOf: InvalidArgumentError, message: msg });
    await t.throwsAsync(m.save('/tmp/unused.safetensors', { preprocessing: p as Preprocessing }), { instanceOf: InvalidArgumentError });
  }
  await t.throwsAsync(m.save('/tmp/unused.safetensors', { metadata: { 'densenet.config': '{}' } }), { instanceOf: InvalidArgumentError, message: /reserved/ });
  await t.throwsAsync(m.save('/tmp/unused.safetensors', { metadata: { a: 1 as unknown as string } }), { instanceOf: InvalidArgumentError, message: /must be a string/ });
  // The native core reserves densenet.config itself, too.
  const raw = new (loadNative().NativeModel)(JSON.stringify(m.config), 'f32', 0);
  const e = await t.throwsAsync(raw.save('/tmp/unused.safetensors', JSON.stringify({ 'densenet.config': 'x' })));
  t.is((e as Error & { code?: string }).code, 'ERR_INVALID_ARG');
  raw.dispose();
});

test('predictImages prepares images as the stored preprocessing says; contradicting options warn and win', async (t) => {
  const model = DenseNet.create(GRAY, { seed: 1 });
  model.setPreprocessing(PP);
  const png = await gradient(30, 24);
  const warnings: string[] = [];
  const onWarning = (m: string): void => void warnings.push(m);
  const pred = await model.predictImages(png, { onWarning });
  t.deepEqual(warnings, []);
  t.deepEqual(pred.shape, [1, 3]);
  const manual = await imagesToTensor([png], { size: [12, 10], channels: 1, mean: [0.2], std: [0.5] });
  t.deepEqual(manual.shape, [1, 1, 12, 10]);
  t.deepEqual(pred.logits, (await model.predict(manual.data, manual.shape)).logits);
  t.deepEqual(pred.classNames, ['a', 'b', 'c']);
  t.true(pred.topK(3)[0]!.every((e) => e.label === ['a', 'b', 'c'][e.index]));
  // Options that agree with the stored values do not warn.
  await model.predictImages(png, { size: [12, 10], mean: [0.2], std: [0.5], onWarning });
  t.deepEqual(warnings, []);
  // Contradicting ones warn, naming the option, and are used.
  const other = await model.predictImages(png, { size: 16, mean: [0.5], onWarning });
  t.is(warnings.length, 2);
  t.regex(warnings[0]!, /size 16 differs .*\(input size 12x10\)/);
  t.regex(warnings[1]!, /mean \[0\.5\] differs/);
  const manual2 = await imagesToTensor([png], { size: 16, channels: 1, mean: [0.5], std: [0.5] });
  t.deepEqual(other.logits, (await model.predict(manual2.data, manual2.shape)).logits);
  // Without stored preprocessing and without options: the old defaults, no warning machinery involved.
  model.setPreprocessing(null);
  t.is((await model.predictImages(png, { size: 8 })).classNames, null);
});

test('evaluate normalizes with the stored preprocessing by default', async (t) => {
  const full = await loadDataset('mnist');
  const ds = new SubsetDataset(full, splitIndices(full.length, 96, 'pp-eval').validation, 'mnist-sub');
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const mnist = NORMALIZATION.mnist;
  model.setPreprocessing({ inputSize: [28, 28], channels: 1, mean: [...mnist.mean], std: [...mnist.std] });
  const byDefault = await evaluate(model, ds, { batchSize: 32 });
  const explicit = await evaluate(model, ds, { batchSize: 32, normalization: 'mnist' });
  const none = await evaluate(model, ds, { batchSize: 32, normalization: null });
  t.is(byDefault.loss, explicit.loss);
  t.not(byDefault.loss, none.loss);
});

test('the training loop stores the preprocessing it trained with in best and final weights', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const full = await loadDataset('mnist');
  const idx = splitIndices(full.length, 192, 'pp-train').validation;
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const r = await train(model, {
    trainSet: new SubsetDataset(full, idx, 'mnist-train'),
    outDir: dir,
    epochs: 1,
    batchSize: 32,
    validationSize: 32,
    normalization: 'mnist',
    threads: 1,
  });
  const expected: Preprocessing = {
    inputSize: [28, 28],
    channels: 1,
    mean: [...NORMALIZATION.mnist.mean],
    std: [...NORMALIZATION.mnist.std],
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
  t.deepEqual(readWeightsInfo(r.paths.best).preprocessing, expected);
  t.deepEqual(readWeightsInfo(r.paths.final).preprocessing, expected);
  t.deepEqual(model.preprocessing, expected);
  // Without normalization: mean 0, std 1.
  const m2 = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const r2 = await train(m2, { trainSet: new SubsetDataset(full, idx, 'mnist-train'), outDir: join(dir, 'raw'), epochs: 1, batchSize: 64, validationSize: 0, normalization: null, threads: 1 });
  t.like(readWeightsInfo(r2.paths.best).preprocessing, { mean: [0], std: [1] });
});

test('trainingPreprocessing: image folders store their evaluation resize and class names; RGB sets their statistics', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const { mkdirSync } = await import('node:fs');
  for (const cls of ['cat', 'dog']) {
    mkdirSync(join(dir, cls));
    await sharp(Buffer.from(Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * (cls === 'cat' ? 7 : 3)) % 256)), { raw: { width: 40, height: 30, channels: 3 } }).png().toFile(join(dir, cls, 'a.png'));
  }
  const folder = await loadImageFolder(dir, { size: 32 });
  const imagenet = NORMALIZATION.imagenet;
  t.deepEqual(trainingPreprocessing(folder, imagenet, 2), {
    inputSize: [32, 32],
    channels: 3,
    mean: [...imagenet.mean],
    std: [...imagenet.std],
    resize: folder.evalResize,
    classNames: ['cat', 'dog'],
  });
  // Class names only when there is one per model class.
  t.false('classNames' in trainingPreprocessing(folder, imagenet, 10)!);
  // A model trained on the folder predicts a file the way the folder's evaluation transform prepares it.
  const model = DenseNet.create({ ...GRAY, inChannels: 3, numClasses: 2 });
  model.setPreprocessing(trainingPreprocessing(folder, imagenet, 2));
  const pred = await model.predictImages(join(dir, 'dog', 'a.png'));
  t.deepEqual(pred.classNames, ['cat', 'dog']);
  const sample = await folder.get(1);
  const x = new Float32Array(3 * 32 * 32);
  for (let c = 0; c < 3; c++) for (let i = 0; i < 32 * 32; i++) x[c * 1024 + i] = (sample.pixels[c * 1024 + i]! / 255 - imagenet.mean[c]!) / imagenet.std[c]!;
  const diff = maxAbsDiff((await model.predict(x, [1, 3, 32, 32])).logits, pred.logits);
  t.log(`max logit difference: ${diff}`);
  t.true(diff < 1e-6, "the same pixels as the folder's evaluation transform");
});

test('acceptance: `densenet train --epochs 1` then `densenet predict` classifies a rendered MNIST 3 with no preprocessing flags', async (t) => {
  const { dir, cleanup } = tempDir('densenet-acceptance-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const tr = await cli(['train', '--epochs', '1', '--out', out], {}, { cwd: dir });
  t.is(tr.code, 0, tr.stderr);
  const weights = join(out, 'best.safetensors');
  t.like(readWeightsInfo(weights).preprocessing, { inputSize: [28, 28], channels: 1 });

  // The first 3 of the embedded MNIST test split, as a 28×28 PNG and as a 112×112 RGB PNG.
  const { test: testSet } = await loadTrainingData('mnist');
  let sample: { pixels: Uint8Array; label: number } | undefined;
  for (let i = 0; i < testSet!.length && !sample; i++) {
    const s = (testSet as SubsetDataset).get(i);
    if (s.label === 3) sample = s;
  }
  const raw = { raw: { width: 28, height: 28, channels: 1 as const } };
  const small = join(dir, 'three.png');
  const big = join(dir, 'three-big.png');
  await sharp(Buffer.from(sample!.pixels), raw).png().toFile(small);
  await sharp(Buffer.from(sample!.pixels), raw).resize(112, 112).toColourspace('srgb').png().toFile(big);

  const r = await cli(['predict', '--model', weights, '--top', '3', '--json', small, big]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '', 'no warnings: nothing contradicts the stored preprocessing');
  const res = JSON.parse(r.stdout) as { image: string; top: { index: number; label: string; logit: number }[] }[];
  for (const entry of res) {
    t.is(entry.top[0]!.index, 3, entry.image);
    t.is(entry.top[0]!.label, '3', entry.image);
  }
  // The CLI's input for the 28×28 PNG is exactly the training pipeline's (MNIST normalization).
  const model = await DenseNet.load(weights);
  const norm = NORMALIZATION.mnist;
  const x = Float32Array.from(sample!.pixels, (v) => (v / 255 - norm.mean[0]!) / norm.std[0]!);
  const direct = await model.predict(x, [1, 1, 28, 28]);
  t.true(maxAbsDiff(Float32Array.from(res[0]!.top, (e) => direct.logits[e.index]!), Float32Array.from(res[0]!.top, (e) => e.logit)) < 1e-5);

  // eval uses the stored preprocessing too: the test error of the training run's best epoch.
  const ev = await cli(['eval', '--model', weights, '--json']);
  t.is(ev.code, 0, ev.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { testError: number };
  t.is((JSON.parse(ev.stdout) as { singleCrop: { top1Error: number } }).singleCrop.top1Error, summary.testError);
  // A contradicting flag is used, with a warning.
  const w = await cli(['predict', '--model', weights, '--size', '32', small]);
  t.is(w.code, 0, w.stderr);
  t.regex(w.stderr, /warning: --size 32 differs from the preprocessing stored with the model \(input size 28x28\)/);
});
