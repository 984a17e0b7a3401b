/**
 * The training loop: results.csv (exact columns, one row per epoch, atomic writes), the best model
 * on validation, events, the data-time share, schedules and option checks.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { DenseNet, InvalidArgumentError, IoError, SubsetDataset, loadDataset, type Dataset } from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import {
  RESULTS_HEADER,
  REFERENCE_RECIPE,
  evaluate,
  formatResultsCsv,
  learningRateAt,
  parseResultsCsv,
  readResultsCsv,
  resolveRecipe,
  train,
  writeFileAtomic,
  writeResultsCsv,
  type TrainEvent,
  MNIST_DEFAULT_CONFIG,
} from '../ts/train/index.js';
import { CHILD_CONFIG, CHILD_RECIPE } from './helpers/train-fixtures.js';
import { tempDir } from './helpers/util.js';

async function tinyData(): Promise<{ trainSet: Dataset; validationSet: Dataset; testSet: Dataset }> {
  const full = await loadDataset('mnist');
  const idx = splitIndices(full.length, 448, 'loop-test').validation;
  return {
    trainSet: new SubsetDataset(full, idx.subarray(0, 256), 'mnist-train'),
    validationSet: new SubsetDataset(full, idx.subarray(256, 320), 'mnist-valid'),
    testSet: new SubsetDataset(full, idx.subarray(320), 'mnist-test'),
  };
}

test('train: results.csv has exactly the reference columns, one row per epoch; best.safetensors is the best-on-validation model', async (t) => {
  const { dir, cleanup } = tempDir('densenet-loop-');
  t.teardown(cleanup);
  const { trainSet, validationSet, testSet } = await tinyData();
  const model = DenseNet.create(CHILD_CONFIG, { seed: 1 });
  const events: TrainEvent[] = [];
  const batches: number[] = [];
  const result = await train(model, {
    ...CHILD_RECIPE,
    epochs: 3,
    trainSet,
    validationSet,
    testSet,
    outDir: dir,
    threads: 1,
    onEvent: (e) => void events.push(e),
    onBatch: (e) => void batches.push(e.batch),
  });
  t.false(result.aborted);
  t.is(result.epochsCompleted, 3);

  const text = readFileSync(join(dir, 'results.csv'), 'utf8');
  const lines = text.trim().split('\n');
  t.is(lines[0], 'epoch,train_loss,train_error,valid_loss,valid_error,test_error');
  t.is(lines[0], RESULTS_HEADER);
  t.is(lines.length, 4);
  lines.slice(1).forEach((l, i) => {
    const cells = l.split(',');
    t.is(cells.length, 6);
    t.is(cells[0], String(i + 1));
    for (const c of cells) t.true(Number.isFinite(Number(c)) && c !== '', `cell "${c}"`);
  });
  const rows = readResultsCsv(join(dir, 'results.csv'));
  t.deepEqual(rows.map((r) => r.epoch), [1, 2, 3]);
  for (const r of rows) {
    t.true(r.trainError >= 0 && r.trainError <= 1);
    t.true(r.validError! >= 0 && r.validError! <= 1);
    t.true(r.testError! >= 0 && r.testError! <= 1);
  }

  // The best epoch is the one with the lowest validation error (ties: the earliest).
  const minErr = Math.min(...rows.map((r) => r.validError!));
  const bestRow = rows.find((r) => r.validError === minErr)!;
  t.is(result.best!.epoch, bestRow.epoch);
  t.is(result.testError, result.records[bestRow.epoch - 1]!.testError, 'reported test error = that of the best epoch');

  // best.safetensors holds exactly that model: re-evaluating it reproduces its validation and test errors.
  t.true(existsSync(join(dir, 'best.safetensors')));
  const best = await DenseNet.load(join(dir, 'best.safetensors'), CHILD_CONFIG);
  const norm = result.recipe.normalization;
  const v = await evaluate(best, validationSet, { normalization: norm, batchSize: result.recipe.evalBatchSize });
  const te = await evaluate(best, testSet, { normalization: norm, batchSize: result.recipe.evalBatchSize });
  t.is(v.top1Error, result.best!.validError);
  t.is(te.top1Error, result.testError);
  t.is(v.loss, result.records[bestRow.epoch - 1]!.validLoss);

  // final.safetensors = the model after the last epoch; summary.json written.
  t.true(existsSync(join(dir, 'final.safetensors')));
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  t.is(summary.best.epoch, result.best!.epoch);
  t.is(summary.recipe.batchSize, 32);

  // Events: start, 8 batches per epoch (256 / 32), epoch events with the record, end.
  t.is(events[0]!.type, 'start');
  t.is(events[events.length - 1]!.type, 'end');
  t.is(batches.length, 24);
  t.deepEqual(batches.slice(0, 8), [1, 2, 3, 4, 5, 6, 7, 8]);
  const epochEvents = events.filter((e) => e.type === 'epoch');
  t.is(epochEvents.length, 3);
  for (const e of epochEvents) {
    if (e.type !== 'epoch') continue;
    t.deepEqual(e.record, result.records[e.record.epoch - 1]);
    t.true(e.dataShare >= 0 && e.dataShare < 1);
  }
  // Reported and sane (toy steps of a few ms; the < 5% goal is checked on a real-size step below).
  t.true(result.dataShare >= 0 && result.dataShare < 0.5, `data share ${result.dataShare}`);
  // No temp files left behind by the atomic writes.
  t.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

// Serial: run alone in this process, so that no other test's work shares the event loop with the loader.
test.serial('waiting for data is under 5% of the step time: the loader prefetches while the native step runs', async (t) => {
  const { dir, cleanup } = tempDir('densenet-datashare-');
  t.teardown(cleanup);
  const full = await loadDataset('mnist');
  const trainSet = new SubsetDataset(full, splitIndices(full.length, 640, 'share').validation, 'mnist-train');
  // The default `densenet train` model (batch 64): a step of tens of milliseconds.
  const model = DenseNet.create(MNIST_DEFAULT_CONFIG, { seed: 1 });
  const r = await train(model, { trainSet, epochs: 2, batchSize: 64, validationSize: 0, augment: { crop: { padding: 2 } }, outDir: dir });
  t.log(`data share ${(r.dataShare * 100).toFixed(2)}%, ${Math.round(r.imagesPerSecond)} img/s`);
  t.true(r.dataShare < 0.05, `data share ${r.dataShare}`);
});

test('train holds out validationSize images of trainSet (seeded) and logs no test_error without a test set', async (t) => {
  const { dir, cleanup } = tempDir('densenet-loop-');
  t.teardown(cleanup);
  const { trainSet } = await tinyData();
  const model = DenseNet.create(CHILD_CONFIG, { seed: 1 });
  let sizes: number[] = [];
  const r = await train(model, {
    ...CHILD_RECIPE,
    epochs: 1,
    validationSize: 96,
    trainSet,
    outDir: dir,
    onEvent: (e) => {
      if (e.type === 'start') sizes = [e.trainSize, e.validationSize, e.testSize, e.batchesPerEpoch];
    },
  });
  t.deepEqual(sizes, [160, 96, 0, 5]);
  const rows = readResultsCsv(join(dir, 'results.csv'));
  t.is(rows[0]!.testError, null);
  t.not(rows[0]!.validError, null);
  t.regex(readFileSync(join(dir, 'results.csv'), 'utf8'), /^1,[\d.]+,[\d.]+,[\d.]+,[\d.]+,$/m);
  t.is(r.testError, null);
});

test('recipe defaults are the reference: SGD Nesterov 0.9, wd 1e-4, lr 0.1 ÷10 at 50%/75%, batch 64, 300 epochs, 5000 held out, crop+flip', async (t) => {
  const full = await loadDataset('mnist');
  const r = resolveRecipe({ normalization: null }, full, false);
  t.is(r.epochs, 300);
  t.is(r.batchSize, 64);
  t.is(r.lr, 0.1);
  t.is(r.momentum, 0.9);
  t.true(r.nesterov);
  t.is(r.weightDecay, 1e-4);
  t.is(r.schedule, 'multistep');
  t.deepEqual(r.milestones, [150, 225]);
  t.is(r.gamma, 0.1);
  t.is(r.validationSize, 5000);
  t.deepEqual(r.augment, { crop: { padding: 4 }, flip: true });
  t.deepEqual(REFERENCE_RECIPE.augment, r.augment);
  t.is(learningRateAt(r, 0), 0.1);
  t.is(learningRateAt(r, 149), 0.1);
  t.true(Math.abs(learningRateAt(r, 150) - 0.01) < 1e-12);
  t.true(Math.abs(learningRateAt(r, 225) - 0.001) < 1e-12);
  const c = resolveRecipe({ schedule: 'cosine', epochs: 10, normalization: 'mnist' }, full, false);
  t.is(learningRateAt(c, 0), 0.1);
  t.true(Math.abs(learningRateAt(c, 5) - 0.05) < 1e-12);
  t.true(learningRateAt(c, 9.5) < 0.001);
  // 'auto' normalization picks the data set's preset by name.
  t.deepEqual(resolveRecipe({}, full, false).normalization, { mean: [0.13112575], std: [0.30869855] });
  // Bad options name the option.
  t.throws(() => resolveRecipe({ epochs: 0 }, full, false), { instanceOf: InvalidArgumentError, message: /epochs/ });
  t.throws(() => resolveRecipe({ momentum: 1 }, full, false), { instanceOf: InvalidArgumentError, message: /momentum/ });
  t.throws(() => resolveRecipe({ validationSize: 10000 }, full, false), { instanceOf: InvalidArgumentError, message: /validationSize/ });
  t.throws(() => resolveRecipe({ schedule: 'step' as never }, full, false), { instanceOf: InvalidArgumentError, message: /schedule/ });
});

test('train rejects data that does not fit the model', async (t) => {
  const { trainSet } = await tinyData();
  const model = DenseNet.create({ ...CHILD_CONFIG, inChannels: 3 });
  await t.throwsAsync(train(model, { trainSet, outDir: 'unused' }), { instanceOf: InvalidArgumentError, message: /channels/ });
});

test('writeFileAtomic replaces a file whole and leaves the old one intact when the write fails', (t) => {
  const { dir, cleanup } = tempDir('densenet-atomic-');
  t.teardown(cleanup);
  const f = join(dir, 'results.csv');
  writeFileSync(f, 'old');
  writeFileAtomic(f, 'new contents');
  t.is(readFileSync(f, 'utf8'), 'new contents');
  t.deepEqual(readdirSync(dir), ['results.csv'], 'no temp file left');
  // A failing write (the target is a directory) throws IoError, removes its temp file and keeps the old file.
  writeFileAtomic(join(dir, 'keep.txt'), 'keep');
  t.throws(() => writeFileAtomic(join(dir, 'missing-dir', 'x.csv'), 'x'), { instanceOf: IoError });
  t.throws(() => writeFileAtomic(dir, 'x'), { instanceOf: IoError });
  t.is(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'keep');
  t.deepEqual(readdirSync(dir).sort(), ['keep.txt', 'results.csv']);
});

test('results.csv round-trips and rejects other headers', (t) => {
  const { dir, cleanup } = tempDir('densenet-csv-');
  t.teardown(cleanup);
  const recs = [
    { epoch: 1, trainLoss: 2.25, trainError: 0.5, validLoss: 1.5, validError: 0.25, testError: 0.3 },
    { epoch: 2, trainLoss: 1.125, trainError: 0.25, validLoss: null, validError: null, testError: null },
  ];
  const f = join(dir, 'results.csv');
  writeResultsCsv(f, recs);
  t.is(readFileSync(f, 'utf8'), formatResultsCsv(recs));
  t.deepEqual(readResultsCsv(f), recs);
  t.throws(() => parseResultsCsv('epoch,loss\n1,2\n'), { instanceOf: InvalidArgumentError, message: /header/ });
  t.throws(() => parseResultsCsv(`${RESULTS_HEADER}\n1,x,0,0,0,0\n`), { instanceOf: InvalidArgumentError, message: /train_loss/ });
});

test('train({resume: true}) with no run to resume is an error, never a silent fresh start', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const full = await loadDataset('mnist');
  await t.throwsAsync(train(DenseNet.create(CHILD_CONFIG), { trainSet: full, epochs: 1, outDir: dir, resume: true, normalization: 'mnist' }), {
    instanceOf: InvalidArgumentError,
    message: /no training run to resume/,
  });
});
