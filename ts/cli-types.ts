/**
 * The JSON the `densenet` CLI prints with `--json`, as types for programs that run it and parse
 * its output (the CLI itself is ESM only; these types are in both builds).
 *
 * @module
 */
import type { ModelConfig } from './config.js';
import type { ModelSummary, TopKEntry } from './model.js';
import type { MemoryEstimate } from './native.js';
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
  /** Batch size of `memory`. */
  batch: number;
  /** Estimated peak memory in bytes (see `estimateMemory`). */
  memory: MemoryEstimate;
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
 * What `densenet eval --json` prints. Errors are fractions in [0, 1], rounded (like the loss) to 6
 * decimals; seconds to 0.01.
 *
 * @category CLI output
 */
export interface EvalJson {
  /** The weights file evaluated. */
  model: string;
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
 * One line per epoch of `densenet train --json`. Errors are fractions; `validLoss`, `validError`
 * and `testError` are `null` without a validation / test set. Numbers are rounded: losses and
 * errors to 6 decimals (as in `results.csv`), `lr` to 6 significant digits, seconds to 0.01,
 * images/s to 0.1, `dataShare` to 4 decimals.
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
  trainLoss: number;
  /** Training error of the epoch. */
  trainError: number;
  /** Validation loss at the end of the epoch. */
  validLoss: number | null;
  /** Validation error at the end of the epoch. */
  validError: number | null;
  /** Test error of the current model at the end of the epoch. */
  testError: number | null;
  /** Learning rate at the start of the epoch. */
  lr: number;
  /** Seconds of training. */
  trainSeconds: number;
  /** Seconds of evaluation. */
  evalSeconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
  /** Share of the step time spent waiting for data. */
  dataShare: number;
  /** The best epoch so far (lowest validation error). */
  bestEpoch: number | null;
  /** Whether this epoch is the new best (`best.safetensors` was written). */
  isBest: boolean;
}

/**
 * The last line of `densenet train --json` (rounded like {@link TrainJsonEpoch}).
 *
 * @category CLI output
 */
export interface TrainJsonResult {
  /** Discriminator. */
  type: 'result';
  /** Whether Ctrl-C (SIGINT/SIGTERM) stopped training (the exit code is then 130). */
  aborted: boolean;
  /** Epochs completed. */
  epochsCompleted: number;
  /** Total epochs of the recipe. */
  epochs: number;
  /** The best epoch on validation. */
  bestEpoch: number | null;
  /** Its validation error. */
  bestValidError: number | null;
  /** Test error of the best model. */
  testError: number | null;
  /** Seconds of this session. */
  seconds: number;
  /** Seconds of the whole run, earlier sessions of a resumed run included. */
  totalSeconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
  /** Share of the step time spent waiting for data. */
  dataShare: number;
  /** The output directory. */
  out: string;
  /** The checkpoint to resume from (`densenet train --resume --out DIR`). */
  checkpoint: string;
}
