/**
 * Evaluation of a model on a labelled data set: mean loss, top-1 and top-5 error, single-crop
 * (through the {@link DataLoader}) or 10-crop for image folders (four corners + center, and their
 * horizontal flips; softmax probabilities averaged over the crops).
 *
 * @module
 */
import type { OutputInfo } from 'sharp';

import { AbortError, InvalidArgumentError, ImageError, throwIfAborted } from '../errors.js';
import { loadSharp, type Sharp } from '../internal/sharp.js';
import type { DenseNet } from '../model.js';
import {
  DataLoader,
  resolveNormalization,
  type ImageFolderDataset,
  type LoaderShard,
  type LoaderSource,
  type Normalization,
  type NormalizationName,
} from '../data/index.js';

/**
 * Options of {@link evaluate}.
 *
 * @category Training
 */
export interface EvaluateOptions {
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /**
   * Normalization of the inputs (the one used in training); `null`: pixels scaled to [0, 1] only.
   * Default: the mean/std of the model's stored `preprocessing`, else `null`.
   */
  normalization?: Normalization | NormalizationName | null;
  /** Stops after the current batch; the promise then rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Called after every batch with the images done so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Batches prepared ahead (default 2). */
  prefetch?: number;
  /**
   * Data-parallel evaluation: only this rank's share of each batch (see {@link LoaderOptions.shard});
   * the result counts that share (sum `lossSum`-style figures over the ranks to combine them).
   */
  shard?: LoaderShard;
}

/**
 * Result of {@link evaluate} and {@link evaluateTenCrop}. Errors are fractions in [0, 1].
 *
 * @category Training
 */
export interface EvaluationResult {
  /** Images evaluated. */
  images: number;
  /** Mean cross-entropy (for 10-crop: of the crop-averaged probabilities). */
  loss: number;
  /** Top-1 error. */
  top1Error: number;
  /** Top-5 error (top-k with k = min(5, classes)). */
  top5Error: number;
  /** Images whose arg-max class is right. */
  correct: number;
  /** Images whose label is among the 5 most likely classes. */
  correctTop5: number;
  /** Crops per image: 1 or 10. */
  crops: 1 | 10;
  /** Wall time in seconds. */
  seconds: number;
}

/**
 * How many rows of `logits` ([n, k], row-major) have `labels[i]` among their `top` largest logits
 * (rank = number of classes with a strictly larger logit).
 */
export function countTopK(logits: Float32Array, labels: Int32Array, classes: number, top: number): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = i * classes;
    const v = logits[row + labels[i]!]!;
    let rank = 0;
    for (let j = 0; j < classes; j++) if (logits[row + j]! > v) rank++;
    if (rank < top) hits++;
  }
  return hits;
}

/** The mean/std of the model's stored preprocessing, or `null`. */
/** The result of a pass over `images` images that started at `t0` (`performance.now()`). */
function evaluationResult(images: number, lossSum: number, correct: number, correctTop5: number, crops: 1 | 10, t0: number): EvaluationResult {
  return {
    images,
    loss: lossSum / images,
    top1Error: 1 - correct / images,
    top5Error: 1 - correctTop5 / images,
    correct,
    correctTop5,
    crops,
    seconds: (performance.now() - t0) / 1000,
  };
}

function storedNormalization(model: DenseNet): Normalization | null {
  const p = model.preprocessing;
  return p ? { mean: p.mean, std: p.std } : null;
}

function checkBatchSize(v: number | undefined, fallback: number): number {
  const b = v ?? fallback;
  if (!Number.isSafeInteger(b) || b < 1) throw new InvalidArgumentError(`batchSize must be a positive integer, got ${String(v)}`);
  return b;
}

/**
 * Evaluates `model` on a labelled data set in eval mode (BN running statistics), single crop:
 * in-memory sets as they are, image folders with their evaluation transform (shorter side to
 * `evalResize`, center crop). The inputs are normalized as the model's stored `preprocessing`
 * says unless `normalization` is given.
 *
 * @example
 * ```ts
 * import { DenseNet, evaluate, loadDataset, loadTrainingData } from 'densenet-sdk';
 *
 * // A model saved by this SDK normalizes its inputs as it was trained.
 * const model = await DenseNet.load('runs/mnist/best.safetensors');
 * const { test } = await loadTrainingData('mnist');
 * const r = await evaluate(model, test!, { batchSize: 256 });
 * console.log(`top-1 error ${(r.top1Error * 100).toFixed(2)}%, top-5 ${(r.top5Error * 100).toFixed(2)}%`);
 *
 * // Weights without stored preprocessing: name the normalization; give up after a minute.
 * const c10 = await loadDataset('cifar10', { split: 'test' });
 * const bc100 = await DenseNet.load('bc100.safetensors', 'densenet-bc-100');
 * await evaluate(bc100, c10, { normalization: 'cifar10', signal: AbortSignal.timeout(60_000) });
 * ```
 *
 * @param model - the model
 * @param dataset - labelled images with `model.inChannels` channels
 * @param options - batch size, normalization, signal
 * @throws {@link AbortError} when `signal` fires (the batch in flight is dropped)
 *
 * @category Training
 */
export async function evaluate(model: DenseNet, dataset: LoaderSource, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const t0 = performance.now();
  const batchSize = checkBatchSize(options.batchSize, 64);
  const signal = options.signal;
  throwIfAborted(signal, 'evaluate');
  const loader = new DataLoader(dataset, {
    batchSize,
    shuffle: false,
    normalization: options.normalization === undefined ? storedNormalization(model) : options.normalization,
    prefetch: options.prefetch ?? 2,
    ...(options.shard ? { shard: options.shard } : {}),
  });
  const classes = model.numClasses;
  const top = Math.min(5, classes);
  let lossSum = 0;
  let correct = 0;
  let correctTop5 = 0;
  let images = 0;
  for await (const b of loader.epoch(0)) {
    throwIfAborted(signal, 'evaluate');
    const n = b.labels.length;
    if (n > 0) {
      const r = await model.evalStep(b.images, b.shape, b.labels, signal ? { signal } : {});
      lossSum += r.loss * n;
      correct += r.correct;
      correctTop5 += countTopK(r.prediction.logits, b.labels, classes, top);
      images += n;
    }
    options.onProgress?.(b.globalSize !== undefined ? Math.min(dataset.length, (b.index + 1) * batchSize) : images, dataset.length);
    throwIfAborted(options.signal, 'evaluate');
  }
  return evaluationResult(images, lossSum, correct, correctTop5, 1, t0);
}

/**
 * Options of {@link evaluateTenCrop}.
 *
 * @category Training
 */
export interface TenCropOptions extends Omit<EvaluateOptions, 'prefetch'> {
  /** Shorter side after resizing, before cropping (default: the folder's `evalResize`, e.g. 256 for 224 crops). */
  resize?: number;
}

/**
 * The ten crops of one image (already resized so that its shorter side is ≥ the crop size):
 * top-left, top-right, bottom-left, bottom-right, center, then the same five mirrored.
 * Writes `10 * C * h * w` normalized floats into `out` at `offset`.
 *
 * @param pixels - interleaved (HWC) uint8 pixels of the resized image
 * @param width - resized width
 * @param height - resized height
 * @param channels - channels in `pixels`
 * @param h - crop height
 * @param w - crop width
 * @param c - channels to write (first `c` of `pixels`)
 * @param lut - `c * 256` normalized values (`lut[ch * 256 + v]`)
 * @param out - destination (NCHW)
 * @param offset - element offset of the first crop in `out`
 */
export function writeTenCrops(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  h: number,
  w: number,
  c: number,
  lut: Float32Array,
  out: Float32Array,
  offset: number,
): void {
  const origins: [number, number][] = [
    [0, 0],
    [width - w, 0],
    [0, height - h],
    [width - w, height - h],
    [Math.floor((width - w) / 2), Math.floor((height - h) / 2)],
  ];
  const plane = h * w;
  let k = 0;
  for (const flip of [false, true]) {
    for (const [x0, y0] of origins) {
      const base = offset + k * c * plane;
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++) {
          const row = ((y0 + y) * width + x0) * channels + ch;
          const o = base + ch * plane + y * w;
          for (let x = 0; x < w; x++) {
            const sx = flip ? w - 1 - x : x;
            out[o + x] = lut[ch * 256 + pixels[row + sx * channels]!]!;
          }
        }
      }
      k++;
    }
  }
}

function lutFor(norm: Normalization | null, c: number): Float32Array {
  const lut = new Float32Array(c * 256);
  for (let ch = 0; ch < c; ch++) {
    const m = norm ? norm.mean[ch]! : 0;
    const s = norm ? norm.std[ch]! : 1;
    for (let v = 0; v < 256; v++) lut[ch * 256 + v] = (v / 255 - m) / s;
  }
  return lut;
}

/**
 * 10-crop evaluation of an image folder (as in the paper's ImageNet results): each image's shorter
 * side is resized to `resize`, the four corner crops and the center crop of the model's input size
 * and their horizontal flips are classified, and the softmax probabilities of the ten crops are
 * averaged.
 *
 * @param model - the model (3 input channels)
 * @param folder - an image folder; its `height`×`width` is the crop size
 * @param options - batch size (images, each 10 crops; default 8), normalization (default: the model's
 *   stored preprocessing, else ImageNet), resize (default: stored, else the folder's `evalResize`)
 * @throws {@link AbortError} when `signal` fires; {@link ImageError} for an undecodable image
 *
 * @category Training
 */
export async function evaluateTenCrop(model: DenseNet, folder: ImageFolderDataset, options: TenCropOptions = {}): Promise<EvaluationResult> {
  const t0 = performance.now();
  const batchSize = checkBatchSize(options.batchSize, 8);
  const h = folder.height;
  const w = folder.width;
  const signal = options.signal;
  throwIfAborted(signal, 'evaluateTenCrop');
  const resize = options.resize ?? model.preprocessing?.resize ?? folder.evalResize;
  if (!Number.isSafeInteger(resize) || resize < Math.max(h, w)) {
    throw new InvalidArgumentError(`resize must be an integer >= the crop size ${Math.max(h, w)}, got ${String(resize)}`);
  }
  const c = model.inChannels;
  if (c !== 3 && c !== 1) throw new InvalidArgumentError(`10-crop evaluation needs a model with 1 or 3 input channels, got ${c}`);
  const norm =
    options.normalization === undefined
      ? (storedNormalization(model) ?? resolveNormalization('imagenet', c === 3 ? 3 : 1))
      : options.normalization === null
        ? null
        : resolveNormalization(options.normalization, c);
  let sharp: Sharp;
  try {
    sharp = await loadSharp();
  } catch (err) {
    throw new ImageError(`the image decoder (sharp) could not be loaded: ${(err as Error).message}`, { cause: err });
  }
  const lut = lutFor(norm, c);
  const classes = model.numClasses;
  const top = Math.min(5, classes);
  const files = folder.files;
  const labels = folder.labels;
  const per = 10 * c * h * w;
  let lossSum = 0;
  let correct = 0;
  let correctTop5 = 0;
  for (let start = 0; start < files.length; start += batchSize) {
    throwIfAborted(signal, 'evaluateTenCrop');
    const end = Math.min(files.length, start + batchSize);
    const n = end - start;
    const input = new Float32Array(n * per);
    await Promise.all(
      Array.from({ length: n }, async (_, j) => {
        const file = files[start + j]!;
        let data: Buffer;
        let info: OutputInfo;
        try {
          let pipe = sharp(file, { failOn: 'error' }).rotate().removeAlpha();
          pipe = c === 3 ? pipe.toColourspace('srgb') : pipe.toColourspace('b-w');
          ({ data, info } = await pipe.resize({ width: resize, height: resize, fit: 'outside' }).raw().toBuffer({ resolveWithObject: true }));
        } catch (err) {
          throw new ImageError(`cannot decode image ${file}: ${(err as Error).message}`, { cause: err });
        }
        if (info.width < w || info.height < h) throw new ImageError(`image ${file} resized to ${info.width}x${info.height}, smaller than the ${w}x${h} crop`);
        writeTenCrops(data, info.width, info.height, info.channels, h, w, c, lut, input, j * per);
      }),
    );
    const pred = await model.predict(input, [n * 10, c, h, w], signal ? { signal } : {});
    const probs = pred.probabilities();
    const avg = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 10; k++) {
        const row = (i * 10 + k) * classes;
        for (let j = 0; j < classes; j++) avg[i * classes + j]! += probs[row + j]! / 10;
      }
    }
    const lab = labels.subarray(start, end);
    for (let i = 0; i < n; i++) {
      const p = avg[i * classes + lab[i]!]!;
      lossSum += -Math.log(Math.max(p, 1e-12));
    }
    correct += countTopK(avg, lab, classes, 1);
    correctTop5 += countTopK(avg, lab, classes, top);
    options.onProgress?.(end, files.length);
  }
  return evaluationResult(files.length, lossSum, correct, correctTop5, 10, t0);
}
