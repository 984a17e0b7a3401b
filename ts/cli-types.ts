/**
 * The JSON the `densenet` CLI prints with `--json`, as types for programs that run it and parse
 * its output (the CLI itself is ESM only; these types are in both builds).
 *
 * @module
 */
import type { ModelConfig } from './config.js';
import type { ModelSummary, TopKEntry } from './model.js';
import type { EvaluationResult } from './train/evaluate.js';

/**
 * What `densenet info <model> --json` prints.
 *
 * @category CLI output
 */
export interface InfoJson {
  /** Preset name, or `null` for a config file without a `preset` field. */
  preset: string | null;
  /** The normalized config. */
  config: ModelConfig;
  /** `[height, width]` of the input the table is for. */
  inputSize: [number, number];
  /** Total trainable parameters. */
  parameters: number;
  /** The per-stage rows. */
  stages: ModelSummary['stages'];
}

/**
 * One image's result in `densenet predict --json` (the command prints an array of them).
 *
 * @category CLI output
 */
export interface PredictJsonEntry {
  /** The image path as given. */
  image: string;
  /** Top classes, most likely first; `label` is the class name from `--labels` or stored with the model. */
  top: TopKEntry[];
}

/**
 * What `densenet eval --json` prints. Errors are fractions in [0, 1].
 *
 * @category CLI output
 */
export interface EvalJson {
  /** The data set name. */
  dataset: string;
  /** Images evaluated. */
  images: number;
  /** Single-crop results. */
  singleCrop: EvaluationResult;
  /** 10-crop results (image folders), else `null`. */
  tenCrop: EvaluationResult | null;
}

/**
 * One line per epoch of `densenet train --json`. Errors are fractions; `valid_*` and `test_error`
 * are `null` without a validation / test set.
 *
 * @category CLI output
 */
export interface TrainJsonEpoch {
  /** Discriminator. */
  type: 'epoch';
  /** 1-based epoch. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** Mean training loss of the epoch. */
  train_loss: number;
  /** Training error of the epoch. */
  train_error: number;
  /** Validation loss at the end of the epoch. */
  valid_loss: number | null;
  /** Validation error at the end of the epoch. */
  valid_error: number | null;
  /** Test error of the current model at the end of the epoch. */
  test_error: number | null;
  /** Learning rate at the start of the epoch. */
  lr: number;
  /** Seconds of training. */
  train_seconds: number;
  /** Seconds of evaluation. */
  eval_seconds: number;
  /** Training images per second. */
  images_per_second: number;
  /** Share of the step time spent waiting for data. */
  data_share: number;
  /** The best epoch so far (lowest validation error). */
  best_epoch: number | null;
  /** Whether this epoch is the new best (`best.safetensors` was written). */
  is_best: boolean;
}

/**
 * The last line of `densenet train --json`.
 *
 * @category CLI output
 */
export interface TrainJsonResult {
  /** Discriminator. */
  type: 'result';
  /** Whether Ctrl-C (SIGINT/SIGTERM) stopped training. */
  aborted: boolean;
  /** Epochs completed. */
  epochs_completed: number;
  /** The best epoch on validation. */
  best_epoch: number | null;
  /** Its validation error. */
  best_valid_error: number | null;
  /** Test error of the best model. */
  test_error: number | null;
  /** Seconds of the run. */
  seconds: number;
  /** Training images per second. */
  images_per_second: number;
  /** Share of the step time spent waiting for data. */
  data_share: number;
  /** The output directory. */
  out: string;
}
