/**
 * One epoch of the training loop: its training steps (batch events, throughput, stops at a
 * batch boundary) and its evaluation on the validation and test sets.
 *
 * @internal
 * @module
 */
import type { DataLoader, Batch, LoaderSource } from '../data/index.js';
import { allReduceSum } from '../distributed.js';
import { isAbortError } from '../errors.js';
import type { TrainStepOptions } from '../model.js';
import type { EpochPartial } from './checkpoint.js';
import { evaluate, type EvaluationResult } from './evaluate.js';
import { applyLearningRate } from './lr.js';
import { learningRateAt } from './options.js';
import { agree, eta, type TrainRun } from './run.js';

/**
 * Trains `epoch` (0-based) from batch `startBatch` at the epoch's lr `epochLr` (per batch for the
 * cosine schedule), adding to the epoch's running sums `p` and the run's timing.
 *
 * @returns null when the epoch's batches are done, or the batch index to resume at when the
 *   signal stopped training (the loader is closed; the checkpoint is the caller's)
 */
export async function trainEpoch(
  run: TrainRun,
  loader: DataLoader,
  epoch: number,
  startBatch: number,
  p: EpochPartial,
  epochLr: number,
  stepOptions: TrainStepOptions,
): Promise<number | null> {
  const { model, recipe, timing } = run;
  const nb = run.batchesPerEpoch;
  loader.restore({ seed: recipe.seed, epoch, batch: startBatch });
  applyLearningRate(model, recipe, epochLr);
  const it = loader[Symbol.asyncIterator]();
  let tWait = performance.now();
  for (;;) {
    const next = await it.next();
    if (next.done) break;
    const b: Batch = next.value;
    const tGot = performance.now();
    const n = b.globalSize ?? b.labels.length;
    if (n < run.worldSize) {
      // A last batch smaller than the job would leave a rank without images: every rank skips it.
      tWait = performance.now();
      continue;
    }
    const lr = recipe.schedule === 'cosine' ? learningRateAt(recipe, epoch + b.index / nb) : epochLr;
    if (recipe.schedule === 'cosine') applyLearningRate(model, recipe, lr);
    const r = await model.trainStep(b.images, b.shape, b.labels, stepOptions);
    const tDone = performance.now();
    const dataMs = tGot - tWait;
    const stepMs = tDone - tGot;
    p.lossSum += r.loss * n;
    p.correct += r.correct;
    p.seen += n;
    p.batches += 1;
    p.dataMs += dataMs;
    p.stepMs += stepMs;
    timing.totalData += dataMs;
    timing.totalStep += stepMs;
    timing.totalImages += n;
    timing.totalTrainMs += dataMs + stepMs;
    timing.msPerBatch = timing.msPerBatch === 0 ? dataMs + stepMs : 0.95 * timing.msPerBatch + 0.05 * (dataMs + stepMs);
    await run.emit({
      type: 'batch',
      epoch: epoch + 1,
      epochs: recipe.epochs,
      batch: b.index + 1,
      batches: nb,
      size: n,
      loss: r.loss,
      error: 1 - r.correct / n,
      epochLoss: p.lossSum / p.seen,
      epochError: 1 - p.correct / p.seen,
      lr,
      step: model.step,
      dataMs,
      stepMs,
      imagesPerSecond: (p.seen * 1000) / Math.max(1e-9, p.dataMs + p.stepMs),
      etaSeconds: eta(run, epoch, b.index + 1),
    });
    if (agree(run, run.signal?.aborted === true)) {
      await it.return?.();
      return b.index + 1;
    }
    tWait = performance.now();
  }
  return null;
}

/** The evaluations of an epoch (null for a set the run does not have), or `'aborted'` when the signal stopped them. */
export type EpochEvaluation = { valid: EvaluationResult | null; test: EvaluationResult | null } | 'aborted';

/**
 * Evaluates the validation and test sets after `epoch` (0-based) with the current weights; under
 * MPI each rank evaluates its share and the figures are summed over the ranks.
 */
export async function evaluateEpoch(run: TrainRun, epoch: number, validationSet: LoaderSource | null, testSet: LoaderSource | null): Promise<EpochEvaluation> {
  const { model, recipe, world, signal } = run;
  const evalShard = world ? { shard: { rank: world.rank, size: world.size } } : {};
  const evalT0 = performance.now();
  let valid: EvaluationResult | null = null;
  let test: EvaluationResult | null = null;
  try {
    if (validationSet) {
      valid = await evaluate(model, validationSet, {
        batchSize: recipe.evalBatchSize,
        ...evalShard,
        normalization: recipe.normalization,
        ...(signal && !world ? { signal } : {}), // under MPI the ranks agree on a stop between batches
        onProgress: (done, total) => void run.emit({ type: 'evaluate', epoch: epoch + 1, set: 'validation', done, total }).catch(() => undefined),
      });
    }
    if (testSet) {
      test = await evaluate(model, testSet, {
        batchSize: recipe.evalBatchSize,
        ...evalShard,
        normalization: recipe.normalization,
        ...(signal && !world ? { signal } : {}), // under MPI the ranks agree on a stop between batches
        onProgress: (done, total) => void run.emit({ type: 'evaluate', epoch: epoch + 1, set: 'test', done, total }).catch(() => undefined),
      });
    }
  } catch (err) {
    if (!isAbortError(err)) throw err;
    return 'aborted';
  }
  run.timing.lastEvalMs = performance.now() - evalT0;
  if (world) {
    // Each rank evaluated its share of every batch: the sums over the ranks give the figures
    // of the whole sets, the same on every rank.
    valid = valid && combineEvaluations(valid);
    test = test && combineEvaluations(test);
  }
  return { valid, test };
}

/** One rank's evaluation summed over the ranks of the job. */
function combineEvaluations(r: EvaluationResult): EvaluationResult {
  const [lossSum, correct, correctTop5, images] = allReduceSum([r.loss * r.images || 0, r.correct, r.correctTop5, r.images]) as [number, number, number, number];
  return { ...r, images, loss: lossSum / images, top1Error: 1 - correct / images, top5Error: 1 - correctTop5 / images, correct, correctTop5 };
}
