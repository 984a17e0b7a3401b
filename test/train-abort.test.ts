/**
 * Aborting training: the AbortSignal stops within one batch (also during evaluation), leaves a
 * loadable checkpoint at the exact position, rejects with TrainAbortError (an AbortError: the one
 * convention of every cancellable call) naming it, and resuming from it reproduces the
 * uninterrupted run bit for bit (mid-epoch, with cosine lr, augmentation and dropout).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { AbortError, DenseNet, DenseNetError, SubsetDataset, TrainAbortError, loadDataset, type Dataset } from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import { readResultsCsv, train, type TrainCheckpointState, type TrainOptions } from '../ts/train/index.js';
import { CHILD_CONFIG, CHILD_RECIPE } from './helpers/train-fixtures.js';
import { sameSafetensors, tempDir } from './helpers/util.js';

async function data(): Promise<{ trainSet: Dataset; testSet: Dataset }> {
  const full = await loadDataset('mnist');
  const idx = splitIndices(full.length, 320, 'abort-test').validation;
  return { trainSet: new SubsetDataset(full, idx.subarray(0, 256), 'mnist-train'), testSet: new SubsetDataset(full, idx.subarray(256), 'mnist-test') };
}

const recipe = { ...CHILD_RECIPE, epochs: 3, schedule: 'cosine' as const };
/** What every abort of the SDK is: an AbortError by class, name and code. */
const isTrainAbort = { instanceOf: TrainAbortError, name: 'AbortError', code: 'ABORT_ERR' } as const;

async function reference(dir: string, base: Pick<TrainOptions, 'trainSet' | 'testSet'>): Promise<Buffer> {
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const r = await train(model, { ...recipe, ...base, outDir: dir, threads: 1 });
  assert.equal(r.aborted, false);
  return readFileSync(join(dir, 'final.safetensors'));
}

test('abort mid-epoch stops within one batch, leaves a loadable checkpoint, and resume is bit-identical', async (t) => {
  const { dir, cleanup } = tempDir('densenet-abort-');
  t.teardown(cleanup);
  const d = await data();
  const refWeights = await reference(join(dir, 'ref'), d);

  const out = join(dir, 'run');
  const ac = new AbortController();
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  let stepAtAbort = -1;
  let batchesAfterAbort = 0;
  const events: string[] = [];
  const err = await t.throwsAsync(
    train(model, {
      ...recipe,
      ...d,
      outDir: out,
      threads: 1,
      signal: ac.signal,
      onEvent: (e) => void events.push(e.type === 'checkpoint' ? `checkpoint:${e.reason}` : e.type),
      onBatch: (e) => {
        if (ac.signal.aborted) batchesAfterAbort++;
        if (e.epoch === 2 && e.batch === 3) {
          ac.abort(new Error('user pressed stop'));
          stepAtAbort = e.step;
        }
      },
    }),
    isTrainAbort,
  );
  // The SDK's one abort convention, plus where to continue.
  t.true(err instanceof AbortError && err instanceof DenseNetError);
  t.is((err!.cause as Error).message, 'user pressed stop');
  t.is(err!.checkpoint, join(out, 'checkpoint.safetensors'));
  t.deepEqual(err!.position, { epoch: 1, batch: 3 });
  t.regex(err!.message, /aborted in epoch 2 of 3 \(after 1 complete epoch\); checkpoint .*checkpoint\.safetensors/);
  t.deepEqual(events.slice(-2), ['checkpoint:abort', 'end'], 'the checkpoint is written before the rejection');
  const r = err!.result;
  t.true(r.aborted);
  t.true(existsSync(err!.checkpoint));
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { aborted: boolean; epochsCompleted: number };
  t.like(summary, { aborted: true, epochsCompleted: 1 });
  t.is(batchesAfterAbort, 0, 'no training step after the abort');
  t.is(model.step, stepAtAbort);
  t.is(r.epochsCompleted, 1);
  t.false(existsSync(join(out, 'final.safetensors')));
  t.is(readResultsCsv(join(out, 'results.csv')).length, 1);

  // The checkpoint loads into a fresh model and holds the exact position.
  const fresh = DenseNet.create(CHILD_CONFIG, { seed: 99 });
  const extra = (await fresh.loadCheckpoint(join(out, 'checkpoint.safetensors'))) as TrainCheckpointState;
  t.is(extra.kind, 'densenet-sdk/train');
  t.deepEqual(extra.position, { epoch: 1, batch: 3 });
  t.deepEqual(extra.loader, { seed: 5, epoch: 1, batch: 3 });
  t.is(extra.partial.batches, 3);
  t.is(extra.records.length, 1);
  t.is(fresh.step, stepAtAbort);
  t.is(extra.recipe.schedule, 'cosine');

  // Resume in a new model: the same final weights as the uninterrupted run.
  const again = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const r2 = await train(again, { ...recipe, ...d, outDir: out, threads: 1, resume: true });
  t.false(r2.aborted);
  t.is(r2.epochsCompleted, 3);
  // The run's total time includes the first session (up to its abort checkpoint).
  const before = r2.totalSeconds - r2.seconds;
  t.true(before > 0 && before <= r.seconds + 1e-6, `earlier sessions: ${before} s, the aborted call took ${r.seconds} s`);
  t.is(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).totalSeconds, Number(r2.totalSeconds.toFixed(2)));
  t.true(sameSafetensors(readFileSync(join(out, 'final.safetensors')), refWeights), 'final weights differ from the uninterrupted run');
  t.is(readFileSync(join(out, 'results.csv'), 'utf8'), readFileSync(join(dir, 'ref', 'results.csv'), 'utf8'));
});

test('abort during evaluation checkpoints "training done, evaluation pending"; resume evaluates and matches', async (t) => {
  const { dir, cleanup } = tempDir('densenet-abort-eval-');
  t.teardown(cleanup);
  const d = await data();
  const refWeights = await reference(join(dir, 'ref'), d);
  const out = join(dir, 'run');
  const ac = new AbortController();
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const err = await t.throwsAsync(
    train(model, {
      ...recipe,
      ...d,
      outDir: out,
      threads: 1,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'evaluate' && e.epoch === 2 && e.set === 'validation') ac.abort();
      },
    }),
    isTrainAbort,
  );
  t.is(err!.cause, undefined, 'no reason given: no cause');
  t.deepEqual(err!.position, { epoch: 1, batch: 6 });
  const r = err!.result;
  t.true(r.aborted);
  t.is(r.epochsCompleted, 1);
  const extra = (await DenseNet.create(CHILD_CONFIG).loadCheckpoint(join(out, 'checkpoint.safetensors'))) as TrainCheckpointState;
  t.deepEqual(extra.position, { epoch: 1, batch: 6 }); // 192 training images / 32 = 6 batches: all trained
  const r2 = await train(DenseNet.create(CHILD_CONFIG, { seed: 2 }), { ...recipe, ...d, outDir: out, threads: 1, resume: true });
  t.is(r2.epochsCompleted, 3);
  t.true(sameSafetensors(readFileSync(join(out, 'final.safetensors')), refWeights));
});

test('an already-aborted signal writes a checkpoint before the first batch; resume refuses other options', async (t) => {
  const { dir, cleanup } = tempDir('densenet-abort0-');
  t.teardown(cleanup);
  const d = await data();
  const model = DenseNet.create(CHILD_CONFIG, { seed: 2 });
  const err = await t.throwsAsync(train(model, { ...recipe, ...d, outDir: dir, signal: AbortSignal.abort() }), isTrainAbort);
  t.deepEqual(err!.position, { epoch: 0, batch: 0 });
  t.is(err!.result.epochsCompleted, 0);
  t.is(model.step, 0);
  t.true(existsSync(join(dir, 'checkpoint.safetensors')));
  await t.throwsAsync(train(DenseNet.create(CHILD_CONFIG), { ...recipe, ...d, batchSize: 16, outDir: dir, resume: true }), {
    message: /batchSize 32, now 16/,
  });
  const warnings: string[] = [];
  const r2 = await train(DenseNet.create(CHILD_CONFIG), {
    ...recipe,
    ...d,
    epochs: 1,
    outDir: dir,
    resume: true,
    onEvent: (e) => void (e.type === 'warning' && warnings.push(e.message)),
  });
  t.false(r2.aborted);
  t.true(warnings.some((w) => /epochs 1/.test(w)), warnings.join('; '));
});
