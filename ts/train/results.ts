/**
 * What a training run produces: its files ({@link trainPaths}), its result, the best epoch, and
 * the `summary.json` written when it ends.
 *
 * @module
 */
import { join, resolve } from 'node:path';

import { roundLr, roundMetric, roundRate, roundSeconds, roundShare } from '../internal/round.js';
import type { EpochRecord } from './io.js';
import type { TrainRecipe } from './options.js';

/**
 * The best epoch on the validation set so far.
 *
 * @category Training
 */
export interface BestRecord {
  /** 1-based epoch. */
  epoch: number;
  /** Validation loss at that epoch (`null` when there is no validation set: then the last epoch counts as best). */
  validLoss: number | null;
  /** Validation top-1 error at that epoch. */
  validError: number | null;
  /** Test top-1 error of the model of that epoch (the weights in `best.safetensors`); `null` without a test set. */
  testError: number | null;
}

/**
 * Paths of the files {@link train} writes in `outDir`.
 *
 * @category Training
 */
export interface TrainPaths {
  /** `results.csv`: `epoch,train_loss,train_error,valid_loss,valid_error,test_error`, one row per epoch. */
  results: string;
  /** `best.safetensors`: weights of the epoch with the lowest validation error. */
  best: string;
  /** `checkpoint.safetensors`: weights, BN statistics, optimizer state, schedule and loader position. */
  checkpoint: string;
  /** `final.safetensors`: weights after the last epoch (written when training completes). */
  final: string;
  /** `summary.json`: the {@link TrainResult} and the recipe (written when training ends or aborts). */
  summary: string;
}

/**
 * The files of a training run in `outDir`.
 *
 * @category Training
 */
export function trainPaths(outDir: string): TrainPaths {
  const d = resolve(outDir);
  return {
    results: join(d, 'results.csv'),
    best: join(d, 'best.safetensors'),
    checkpoint: join(d, 'checkpoint.safetensors'),
    final: join(d, 'final.safetensors'),
    summary: join(d, 'summary.json'),
  };
}

/**
 * What {@link train} resolves to.
 *
 * @category Training
 */
export interface TrainResult {
  /**
   * `false` when {@link train} resolves; `true` in the result a {@link TrainAbortError} carries (and
   * in `summary.json` and the `end` event of a stopped run).
   */
  aborted: boolean;
  /** Epochs completed (evaluated and logged). */
  epochsCompleted: number;
  /** Total epochs of the recipe. */
  epochs: number;
  /** Every epoch's results (the rows of `results.csv`). */
  records: EpochRecord[];
  /** The best epoch on validation (without a validation set: the last epoch). */
  best: BestRecord | null;
  /** Test error of the best model (the weights in `best.safetensors`); `null` without a test set or before the first epoch. */
  testError: number | null;
  /** Seconds of this call (training + evaluation). */
  seconds: number;
  /**
   * Seconds of the whole run: this call plus, for a resumed run, the earlier sessions up to their
   * last checkpoint (a session killed without one loses the time since its last epoch).
   */
  totalSeconds: number;
  /** Training images per second over this call. */
  imagesPerSecond: number;
  /** Time waiting for data as a share of (data wait + training steps) over this call. */
  dataShare: number;
  /** The resolved recipe. */
  recipe: TrainRecipe;
  /** The files written. */
  paths: TrainPaths;
}

/**
 * The contents of `summary.json`: the result without the per-epoch rows (they are in
 * `results.csv`), the data set sizes, and every number rounded to meaningful digits.
 */
export function summaryJson(r: TrainResult, sizes: { train: number; validation: number; test: number }): Record<string, unknown> {
  const best = r.best && {
    epoch: r.best.epoch,
    validLoss: roundMetric(r.best.validLoss),
    validError: roundMetric(r.best.validError),
    testError: roundMetric(r.best.testError),
  };
  return {
    aborted: r.aborted,
    epochsCompleted: r.epochsCompleted,
    epochs: r.epochs,
    best,
    testError: roundMetric(r.testError),
    seconds: roundSeconds(r.seconds),
    totalSeconds: roundSeconds(r.totalSeconds),
    imagesPerSecond: roundRate(r.imagesPerSecond),
    dataShare: roundShare(r.dataShare),
    sizes,
    recipe: { ...r.recipe, lr: roundLr(r.recipe.lr) },
    paths: r.paths,
  };
}
