/**
 * ONNX export (`DenseNet.exportOnnx`, `densenet export`), checked by the real consumer: every
 * exported file is run in onnxruntime-node and its logits compared with `model.predict`.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import {
  DenseNet,
  IoError,
  InvalidArgumentError,
  ONNX_MIN_OPSET,
  ShapeError,
  SubsetDataset,
  loadDataset,
  loadNative,
  train,
  type ModelConfigInput,
  type PresetName,
} from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import { cli } from './helpers/cli.js';
import { randomizeBatchNorms, readOnnxFacts, relativeMaxDiff, runOnnx } from './helpers/onnx.js';
import { CHILD_CONFIG } from './helpers/train-fixtures.js';
import { randn, tempDir, TINY } from './helpers/util.js';

/** f32 agreement asked of onnxruntime vs the native core, relative to the largest logit. */
const F32_TOLERANCE = 1e-5;

const { dir, cleanup } = tempDir('densenet-onnx-test-');
test.after.always(cleanup);

let fileCounter = 0;
const onnxPath = (name: string): string => join(dir, `${++fileCounter}-${name}.onnx`);

/** Logits of `model.predict` and of onnxruntime on the exported file, for one random batch. */
async function bothLogits(model: DenseNet, file: string, shape: readonly [number, number, number, number], seed = 1): Promise<[Float32Array, Float32Array]> {
  const input = randn(shape[0] * shape[1] * shape[2] * shape[3], seed);
  const ours = (await model.predict(input, shape)).logits;
  return [ours, await runOnnx(file, input, shape)];
}

// Every preset, with random BN statistics (so that folding is not the identity), at the smallest
// input that keeps every stage at least 1×1 after the last transition: 8² for the CIFAR presets
// (8, 4, 2) and 32² for the ImageNet ones (16 after conv0, 8 after the max pool, then 4, 2, 1).
for (const preset of loadNative().presetNames() as PresetName[]) {
  test.serial(`${preset}: onnxruntime on the export gives the logits of model.predict`, async (t) => {
    const model = DenseNet.create(preset, { seed: 3 });
    t.teardown(() => model.dispose());
    await randomizeBatchNorms(model, dir, 11);
    const side = model.config.smallInputs ? 8 : 32;
    const file = onnxPath(preset);
    const info = await model.exportOnnx(file, { inputSize: [side, side] });
    const [ours, theirs] = await bothLogits(model, file, [2, model.inChannels, side, side]);
    const rel = relativeMaxDiff(theirs, ours);
    t.log(`${preset} ${side}²: max |ORT − predict| / max |logit| = ${rel.toExponential(2)}; folded ${info.foldedBatchNorms.length} BNs`);
    t.true(rel < F32_TOLERANCE, `relative difference ${rel}`);
    // Folded: norm0 of the ImageNet stem and the norm2 of every bottleneck layer.
    const layers = model.config.blockConfig.reduce((a, b) => a + b, 0);
    t.is(info.foldedBatchNorms.length, (model.config.smallInputs ? 0 : 1) + (model.config.bottleneck ? layers : 0));
    t.is(readOnnxFacts(file).opTypes.filter((op) => op === 'BatchNormalization').length, info.batchNormNodes.length);
  });
}

test.serial('architectures beyond the presets: ImageNet stem with basic layers and compression, odd non-square inputs, 1 and 4 input channels', async (t) => {
  const configs: [ModelConfigInput, [number, number]][] = [
    [{ growthRate: 6, blockConfig: [3, 2], numInitFeatures: 10, bottleneck: false, compression: 0.6, smallInputs: false, inChannels: 4, numClasses: 3 }, [37, 45]],
    [{ growthRate: 5, blockConfig: [2, 3, 1], numInitFeatures: 7, bottleneck: true, bnSize: 2, compression: 1, smallInputs: true, inChannels: 1, numClasses: 2 }, [11, 13]],
  ];
  for (const [config, [h, w]] of configs) {
    const model = DenseNet.create(config, { seed: 4 });
    await randomizeBatchNorms(model, dir, 5);
    const file = onnxPath('custom');
    await model.exportOnnx(file, { inputSize: [h, w] });
    const [ours, theirs] = await bothLogits(model, file, [3, model.inChannels, h, w]);
    const rel = relativeMaxDiff(theirs, ours);
    t.log(`${JSON.stringify(config)} at ${h}×${w}: relative difference ${rel.toExponential(2)}`);
    t.true(rel < F32_TOLERANCE, `relative difference ${rel}`);
    await model.dispose();
  }
});

test.serial('folded and unfolded BatchNorms give the same logits; the folded graph has a BatchNormalization fewer per fold', async (t) => {
  const model = DenseNet.create({ ...TINY, smallInputs: false, numClasses: 7 }, { seed: 8 });
  t.teardown(() => model.dispose());
  await randomizeBatchNorms(model, dir, 21);
  const folded = onnxPath('folded');
  const unfolded = onnxPath('unfolded');
  const infoFolded = await model.exportOnnx(folded, { inputSize: [40, 40] });
  const infoUnfolded = await model.exportOnnx(unfolded, { inputSize: [40, 40], foldBatchNorm: false });
  const layerNames = TINY.blockConfig.flatMap((n, b) => Array.from({ length: n }, (_, l) => `features.denseblock${b + 1}.denselayer${l + 1}.norm2`));
  t.deepEqual(infoFolded.foldedBatchNorms, ['features.norm0', ...layerNames]);
  t.deepEqual(infoUnfolded.foldedBatchNorms, []);
  const bnCount = (file: string): number => readOnnxFacts(file).opTypes.filter((op) => op === 'BatchNormalization').length;
  t.is(bnCount(unfolded) - bnCount(folded), infoFolded.foldedBatchNorms.length);
  const [ours, fromFolded] = await bothLogits(model, folded, [4, 3, 40, 40], 9);
  const [, fromUnfolded] = await bothLogits(model, unfolded, [4, 3, 40, 40], 9);
  const foldedVsUnfolded = relativeMaxDiff(fromFolded, fromUnfolded);
  t.log(`relative logit difference: folded vs unfolded ${foldedVsUnfolded.toExponential(2)}, folded vs predict ${relativeMaxDiff(fromFolded, ours).toExponential(2)}, unfolded vs predict ${relativeMaxDiff(fromUnfolded, ours).toExponential(2)}`);
  t.true(foldedVsUnfolded < F32_TOLERANCE);
  t.true(relativeMaxDiff(fromUnfolded, ours) < F32_TOLERANCE);
});

test.serial('a dynamic batch runs batch 1 and 7; a fixed batch is written into the input shape', async (t) => {
  const model = DenseNet.create(TINY, { seed: 2 });
  t.teardown(() => model.dispose());
  await randomizeBatchNorms(model, dir, 3);
  const dynamic = onnxPath('dynamic');
  const info = await model.exportOnnx(dynamic, { inputSize: [16, 16] });
  t.deepEqual(info.inputShape, ['batch', 3, 16, 16]);
  for (const n of [1, 7]) {
    const [ours, theirs] = await bothLogits(model, dynamic, [n, 3, 16, 16], n);
    t.is(theirs.length, n * model.numClasses);
    t.true(relativeMaxDiff(theirs, ours) < F32_TOLERANCE, `batch ${n}`);
  }
  const fixed = onnxPath('fixed');
  t.deepEqual((await model.exportOnnx(fixed, { batch: 3, inputSize: [16, 16] })).inputShape, [3, 3, 16, 16]);
  const [ours, theirs] = await bothLogits(model, fixed, [3, 3, 16, 16]);
  t.true(relativeMaxDiff(theirs, ours) < F32_TOLERANCE);
  await t.throwsAsync(() => runOnnx(fixed, randn(7 * 3 * 16 * 16), [7, 3, 16, 16]), undefined, 'onnxruntime refuses batch 7 for a batch-3 export');
});

test.serial('every supported opset from the minimum loads in onnxruntime; the file records the opset and its IR version', async (t) => {
  const model = DenseNet.create(TINY, { seed: 6 });
  t.teardown(() => model.dispose());
  const irVersions: number[] = [];
  for (const opset of [ONNX_MIN_OPSET, 11, 13, 17, 22]) {
    const file = onnxPath(`opset${opset}`);
    const info = await model.exportOnnx(file, { opset, inputSize: [8, 8] });
    const facts = readOnnxFacts(file);
    t.is(facts.opset, opset);
    t.is(facts.irVersion, info.irVersion);
    irVersions.push(info.irVersion);
    const [ours, theirs] = await bothLogits(model, file, [2, 3, 8, 8]);
    t.true(relativeMaxDiff(theirs, ours) < F32_TOLERANCE, `opset ${opset}`);
  }
  t.deepEqual([...irVersions].sort((a, b) => a - b), irVersions, 'IR versions grow with the opset');
});

test.serial('a model trained briefly on MNIST: same logits in onnxruntime on real digits, preprocessing and class names in metadata_props', async (t) => {
  const full = await loadDataset('mnist');
  const idx = splitIndices(full.length, 192, 'onnx-train').validation;
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  t.teardown(() => model.dispose());
  await train(model, { trainSet: new SubsetDataset(full, idx, 'mnist-train'), outDir: join(dir, 'mnist-run'), epochs: 1, batchSize: 32, validationSize: 32, normalization: 'mnist', threads: 1 });
  const pp = model.preprocessing!;
  t.truthy(pp.classNames);
  const file = onnxPath('mnist');
  const info = await model.exportOnnx(file);
  t.deepEqual(info.inputShape, ['batch', 1, 28, 28], 'the stored input size is the default');
  const facts = readOnnxFacts(file);
  t.deepEqual(JSON.parse(facts.metadata['densenet.preprocessing']!), pp);
  t.deepEqual(JSON.parse(facts.metadata['densenet.classNames']!), pp.classNames);
  t.deepEqual(JSON.parse(facts.metadata['densenet.config']!), model.config);
  // Ten real digits (every 1000th: the asset is ordered by class), normalized as stored.
  const n = 10;
  const px = 28 * 28;
  const input = new Float32Array(n * px);
  for (let i = 0; i < n; i++) {
    const s = full.get(i * 1000);
    for (let j = 0; j < px; j++) input[i * px + j] = (s.pixels[j]! / 255 - pp.mean[0]!) / pp.std[0]!;
  }
  const ours = (await model.predict(input, [n, 1, 28, 28])).logits;
  const theirs = await runOnnx(file, input, [n, 1, 28, 28]);
  const rel = relativeMaxDiff(theirs, ours);
  t.log(`MNIST-trained model: relative difference ${rel.toExponential(2)}`);
  t.true(rel < F32_TOLERANCE);
});

test.serial('an f64 model exports float32 weights that agree with its predict to f32 rounding', async (t) => {
  const model = DenseNet.create(TINY, { seed: 5, dtype: 'f64' });
  t.teardown(() => model.dispose());
  const file = onnxPath('f64');
  await model.exportOnnx(file, { inputSize: [12, 12] });
  const [ours, theirs] = await bothLogits(model, file, [2, 3, 12, 12]);
  t.true(relativeMaxDiff(theirs, ours) < F32_TOLERANCE);
});

test.serial('bad input: a disposed model, an unwritable path (no file left), a low opset, bad options', async (t) => {
  const model = DenseNet.create(TINY, { seed: 1 });
  const opts = { inputSize: [8, 8] as [number, number] };
  // Unwritable: a missing directory, a file in place of the directory, a directory in place of the file.
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, 'x');
  const existingDir = join(dir, 'a-dir.onnx');
  mkdirSync(existingDir);
  for (const target of [join(dir, 'missing', 'm.onnx'), join(blocker, 'm.onnx'), existingDir]) {
    const err = await t.throwsAsync(() => model.exportOnnx(target, opts), { instanceOf: IoError });
    t.true(err!.message.includes(target), err!.message);
  }
  t.false(existsSync(join(dir, 'missing')));
  t.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
  const low = await t.throwsAsync(() => model.exportOnnx(onnxPath('low'), { ...opts, opset: ONNX_MIN_OPSET - 1 }), { instanceOf: InvalidArgumentError });
  t.regex(low!.message, new RegExp(`>= ${ONNX_MIN_OPSET}\\b`));
  const bad: Record<string, unknown>[] = [
    { opset: 99 },
    { opset: 13.5 },
    { batch: 0 },
    { batch: 'dyn' },
    { inputSize: [0, 8] },
    { inputSize: [8] },
    { foldBatchNorm: 'yes' },
    { fold: true },
  ];
  for (const options of bad) {
    const file = onnxPath('bad');
    await t.throwsAsync(() => model.exportOnnx(file, options as never), { instanceOf: InvalidArgumentError }, JSON.stringify(options));
    t.false(existsSync(file));
  }
  await t.throwsAsync(() => model.exportOnnx(onnxPath('small'), { inputSize: [2, 2] }), { instanceOf: ShapeError });
  await model.dispose();
  const file = onnxPath('disposed');
  const disposed = await t.throwsAsync(() => model.exportOnnx(file, opts), { instanceOf: InvalidArgumentError });
  t.regex(disposed!.message, /disposed/);
  t.false(existsSync(file));
});

test.serial('densenet export writes the file the options describe', async (t) => {
  const model = DenseNet.create(TINY, { seed: 7 });
  t.teardown(() => model.dispose());
  await randomizeBatchNorms(model, dir, 13);
  const weights = join(dir, 'cli.safetensors');
  await model.save(weights);
  const file = onnxPath('cli');
  const r = await cli(['export', '--model', weights, '--onnx', file, '--opset', '13', '--batch', '4', '--input-size', '12x10', '--no-fold-bn']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  const facts = readOnnxFacts(file);
  t.is(facts.opset, 13);
  t.is(facts.opTypes.filter((op) => op === 'BatchNormalization').length, 1 + 2 * TINY.blockConfig.reduce((a, b) => a + b, 0) + TINY.blockConfig.length - 1);
  const [ours, theirs] = await bothLogits(model, file, [4, 3, 12, 10]);
  t.true(relativeMaxDiff(theirs, ours) < F32_TOLERANCE);
  const bad = await cli(['export', '--model', weights, '--onnx', onnxPath('cli-bad'), '--batch', 'many']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /--batch/);
});
