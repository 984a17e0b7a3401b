/**
 * Per-data-set normalization constants and their computation.
 *
 * @module
 */
import type { Dataset, DatasetInfo } from './dataset.js';
import { DataError, checkArg } from './errors.js';

/**
 * Per-channel mean and standard deviation, on pixel values scaled to [0, 1]. Output = (x/255 − mean) / std.
 *
 * @category Data
 */
export interface Normalization {
  /** One mean per channel. */
  readonly mean: readonly number[];
  /** One standard deviation per channel (> 0). */
  readonly std: readonly number[];
}

/**
 * Names of the built-in {@link NORMALIZATION} presets.
 *
 * @category Data
 */
export type NormalizationName = 'cifar10' | 'cifar100' | 'svhn' | 'mnist' | 'mnist-32' | 'imagenet';

/**
 * Built-in normalizations: population statistics of each training set, per channel over all pixels.
 * - `cifar10`: the DenseNet reference values (mean 0.4914/0.4822/0.4465, std 0.2470/0.2435/0.2616).
 * - `cifar100`: CIFAR-100 train (50,000 images), the widely published values.
 * - `svhn`: SVHN train (73,257 images), the widely published values.
 * - `mnist`: computed from the embedded 10,000 digits at 28×28 (the test suite recomputes it);
 *   `mnist-32`: the same digits zero-padded to 32×32.
 * - `imagenet`: torchvision's ImageNet values, the default for image folders.
 *
 * @category Data
 */
export const NORMALIZATION: Readonly<Record<NormalizationName, Normalization>> = Object.freeze({
  cifar10: { mean: [0.49139968, 0.48215841, 0.44653091], std: [0.24703223, 0.24348513, 0.26158784] },
  cifar100: { mean: [0.50707516, 0.48654887, 0.44091784], std: [0.26733429, 0.25643846, 0.27615047] },
  svhn: { mean: [0.4376821, 0.4437697, 0.47280442], std: [0.19803012, 0.20101562, 0.19703614] },
  mnist: { mean: [0.13112575], std: [0.30869855] },
  'mnist-32': { mean: [0.10039315], std: [0.27576334] },
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
});

/**
 * Resolves a preset name or checks a custom normalization against a channel count.
 * @throws DataError `ERR_DATA_INVALID_ARG` for an unknown name, a channel-count mismatch or a non-positive std.
 */
export function resolveNormalization(n: Normalization | NormalizationName, channels: number): Normalization {
  const norm = typeof n === 'string' ? NORMALIZATION[n] : n;
  if (!norm) {
    throw new DataError('ERR_DATA_INVALID_ARG', `unknown normalization ${JSON.stringify(n)}; known: ${Object.keys(NORMALIZATION).join(', ')}`);
  }
  checkArg(
    norm.mean.length === channels && norm.std.length === channels,
    `normalization has ${norm.mean.length} means / ${norm.std.length} stds for ${channels} channels`,
  );
  checkArg(norm.std.every((s) => s > 0 && Number.isFinite(s)), `normalization std must be positive, got ${norm.std.join(', ')}`);
  return norm;
}

/**
 * A lookup table `lut[c * 256 + v] = (v / 255 − mean[c]) / std[c]` (or `v / 255` when `norm` is null):
 * normalizing a pixel is one load. @internal
 */
export function normalizationTable(info: DatasetInfo, norm: Normalization | null): Float32Array {
  const lut = new Float32Array(info.channels * 256);
  for (let c = 0; c < info.channels; c++) {
    const m = norm ? norm.mean[c]! : 0;
    const s = norm ? norm.std[c]! : 1;
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - m) / s;
  }
  return lut;
}

/**
 * Computes per-channel mean and (population) standard deviation of a data set on [0, 1]-scaled pixels —
 * what to pass as `normalization` for a new data set (compute it on the training split only).
 * @param ds - the data set
 * @param maxSamples - use at most this many samples, evenly spaced (default: all)
 *
 * @category Data
 */
export function computeNormalization(ds: Dataset, maxSamples = Infinity): Normalization {
  checkArg(ds.length > 0, `${ds.name} is empty`);
  const C = ds.channels;
  const hw = ds.height * ds.width;
  const n = Math.min(ds.length, maxSamples);
  const step = ds.length / n;
  // Exact integer histograms per channel: no float drift over millions of pixels.
  const hist = new Float64Array(C * 256);
  for (let k = 0; k < n; k++) {
    const px = ds.get(Math.floor(k * step)).pixels;
    for (let c = 0; c < C; c++) {
      const base = c * hw;
      const h = c * 256;
      for (let i = 0; i < hw; i++) hist[h + px[base + i]!]!++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < C; c++) {
    let cnt = 0;
    let s = 0;
    for (let v = 0; v < 256; v++) {
      cnt += hist[c * 256 + v]!;
      s += hist[c * 256 + v]! * v;
    }
    const m = s / cnt;
    let q = 0;
    for (let v = 0; v < 256; v++) q += hist[c * 256 + v]! * (v - m) * (v - m);
    mean.push(m / 255);
    std.push(Math.sqrt(q / cnt) / 255);
  }
  return { mean, std };
}
