/**
 * The events {@link train} emits: start, batches, evaluation progress, epochs, checkpoints,
 * warnings, gradual unfreezing and the end.
 *
 * @module
 */
import type { EpochRecord } from './io.js';
import type { TrainRecipe } from './options.js';
import type { BestRecord, TrainResult } from './results.js';

/**
 * Emitted once before the first batch.
 *
 * @category Training
 */
export interface StartEvent {
  /** Discriminator. */
  type: 'start';
  /** The resolved recipe. */
  recipe: TrainRecipe;
  /** Images trained on per epoch (after the validation hold-out). */
  trainSize: number;
  /** Validation images (0: none). */
  validationSize: number;
  /** Test images (0: none). */
  testSize: number;
  /** Batches per epoch. */
  batchesPerEpoch: number;
  /** 0-based epoch where training starts (0 unless resumed). */
  startEpoch: number;
  /** 0-based batch of `startEpoch` where training starts (0 unless resumed mid-epoch). */
  startBatch: number;
  /** Whether a checkpoint was restored. */
  resumed: boolean;
  /** The output directory. */
  outDir: string;
}

/**
 * Emitted after every training step.
 *
 * @category Training
 */
export interface BatchEvent {
  /** Discriminator. */
  type: 'batch';
  /** 1-based epoch. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** 1-based batch within the epoch. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Images in this batch. */
  size: number;
  /** Loss of this batch (train mode, before the update). */
  loss: number;
  /** Error of this batch (fraction). */
  error: number;
  /** Mean loss of the epoch so far. */
  epochLoss: number;
  /** Error of the epoch so far. */
  epochError: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Completed optimizer steps (the model's step counter). */
  step: number;
  /** Milliseconds waiting for this batch from the loader. */
  dataMs: number;
  /** Milliseconds of the training step. */
  stepMs: number;
  /** Training throughput of the epoch so far (images per second, data wait included). */
  imagesPerSecond: number;
  /** Estimated seconds until the end of training (evaluation included). */
  etaSeconds: number;
}

/**
 * Emitted after each epoch's evaluation and checkpoint.
 *
 * @category Training
 */
export interface EpochEvent {
  /** Discriminator. */
  type: 'epoch';
  /** The epoch's results (the row of `results.csv`). */
  record: EpochRecord;
  /** Total epochs. */
  epochs: number;
  /** Learning rate at the start of the epoch. */
  lr: number;
  /** Seconds of training in this epoch (including time spent before an interruption). */
  trainSeconds: number;
  /** Seconds of evaluation (validation + test). */
  evalSeconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
  /** Time waiting for data, as a share of the time of the training steps plus that wait (goal: < 0.05). */
  dataShare: number;
  /** Whether this epoch is the new best on validation (`best.safetensors` was written). */
  isBest: boolean;
  /** The best epoch so far. */
  best: BestRecord | null;
  /** Estimated seconds until the end of training. */
  etaSeconds: number;
}

/**
 * Emitted after a checkpoint was written.
 *
 * @category Training
 */
export interface CheckpointEvent {
  /** Discriminator. */
  type: 'checkpoint';
  /** The checkpoint file. */
  path: string;
  /** Why: end of an epoch, or an abort. */
  reason: 'epoch' | 'abort';
  /** 0-based epoch of the next training step. */
  epoch: number;
  /** Index of the next batch in `epoch` (= batches per epoch: the epoch is trained, its evaluation pending). */
  batch: number;
}

/**
 * Emitted for a non-fatal problem (e.g. an option that differs from the checkpoint's).
 *
 * @category Training
 */
export interface WarningEvent {
  /** Discriminator. */
  type: 'warning';
  /** What happened. */
  message: string;
}

/**
 * Emitted while the validation and test sets are evaluated.
 *
 * @category Training
 */
export interface EvaluateEvent {
  /** Discriminator. */
  type: 'evaluate';
  /** 1-based epoch. */
  epoch: number;
  /** Which set. */
  set: 'validation' | 'test';
  /** Images done. */
  done: number;
  /** Images in the set. */
  total: number;
}

/**
 * Emitted once at the end (also after an abort).
 *
 * @category Training
 */
export interface EndEvent {
  /** Discriminator. */
  type: 'end';
  /** The result {@link train} resolves to. */
  result: TrainResult;
}

/**
 * Emitted when the parameters of `freeze` train again (`unfreezeAt`), before that epoch's first batch.
 *
 * @category Training
 */
export interface UnfreezeEvent {
  /** Discriminator. */
  type: 'unfreeze';
  /** 0-based epoch that starts with them trainable. */
  epoch: number;
  /** The specs unfrozen. */
  specs: string[];
  /** {@link DenseNet.trainableParameterCount} from now on. */
  trainableParameters: number;
}

/**
 * Every event of {@link train}, discriminated by `type`.
 *
 * @category Training
 */
export type TrainEvent = StartEvent | BatchEvent | EvaluateEvent | EpochEvent | CheckpointEvent | WarningEvent | UnfreezeEvent | EndEvent;
