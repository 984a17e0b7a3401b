/**
 * How {@link DenseNet.predictImages} prepares images: the model's stored preprocessing, the
 * options that override it (each with a warning), or the defaults of models without one.
 *
 * @module
 */
import type { ModelConfig } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { checkSize } from '../internal/validate.js';
import type { Preprocessing } from '../weights.js';
import { CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD, type ImageOptions, type ImagesToTensorOptions } from './images.js';
import type { CallOptions } from './types.js';

/**
 * Options of {@link DenseNet.predictImages}.
 *
 * @category Model
 */
export interface PredictImagesOptions extends ImageOptions, CallOptions {
  /**
   * Receives a message when an option contradicts the preprocessing stored with the model (the
   * option is used). Default: `process.emitWarning` with type `DenseNetWarning`.
   */
  onWarning?: (message: string) => void;
}

/** Whether two per-channel lists are equal (a 1-value list stands for every channel). */
function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.length === 1 ? a[0]! : a[i];
    const y = b.length === 1 ? b[0]! : b[i];
    if (x === undefined || y === undefined || Math.abs(x - y) > 1e-6 * Math.max(1, Math.abs(y))) return false;
  }
  return true;
}

/** The default `onWarning`: a process warning of type `DenseNetWarning`. */
function defaultWarning(message: string): void {
  process.emitWarning(message, { type: 'DenseNetWarning', code: 'DENSENET_PREPROCESSING' });
}

/**
 * The {@link imagesToTensor} options (no signal) that `predictImages` decodes with, for a model
 * of `config` with `preprocessing`; warns through `options.onWarning` where an option contradicts
 * the stored preprocessing.
 */
export function predictionImageOptions(
  config: Readonly<ModelConfig>,
  preprocessing: Readonly<Preprocessing> | null,
  options: PredictImagesOptions,
): ImagesToTensorOptions {
  const c = config.inChannels;
  if (c !== 1 && c !== 3) throw new InvalidArgumentError(`predictImages supports 1 or 3 input channels, the model has ${c}`);
  const p = preprocessing;
  const warn = options.onWarning ?? defaultWarning;
  let size: number | readonly [number, number];
  let resize: number | undefined;
  let mean: readonly number[];
  let std: readonly number[];
  if (p) {
    const stored = `the preprocessing stored with the model`;
    size = options.size ?? p.inputSize;
    const [h, w] = checkSize(size);
    if (h !== p.inputSize[0] || w !== p.inputSize[1]) {
      const given = typeof options.size === 'number' ? String(options.size) : `${h}x${w}`;
      warn(`size ${given} differs from ${stored} (input size ${p.inputSize[0]}x${p.inputSize[1]}); using ${given}`);
    }
    resize = options.resize ?? (options.size === undefined ? p.resize : undefined);
    if (options.resize !== undefined && p.resize !== undefined && options.resize !== p.resize) {
      warn(`resize ${options.resize} differs from ${stored} (resize ${p.resize}); using ${options.resize}`);
    }
    mean = options.mean ?? p.mean;
    if (options.mean && !sameNumbers(options.mean, p.mean)) warn(`mean [${options.mean.join(', ')}] differs from ${stored} ([${p.mean.join(', ')}]); using the given mean`);
    std = options.std ?? p.std;
    if (options.std && !sameNumbers(options.std, p.std)) warn(`std [${options.std.join(', ')}] differs from ${stored} ([${p.std.join(', ')}]); using the given std`);
  } else {
    const small = config.smallInputs;
    size = options.size ?? (small ? 32 : 224);
    resize = options.resize;
    mean = options.mean ?? (c === 3 ? (small ? CIFAR_MEAN : IMAGENET_MEAN) : [0]);
    std = options.std ?? (c === 3 ? (small ? CIFAR_STD : IMAGENET_STD) : [1]);
  }
  if (options.channels !== undefined && options.channels !== c) {
    throw new InvalidArgumentError(`channels must be the model's inChannels ${c}, got ${String(options.channels)}`);
  }
  return { size, ...(resize !== undefined ? { resize } : {}), mean, std, channels: c };
}
