/**
 * The {@link DenseNet} model class: create/load, predict, train/eval steps, save.
 *
 * Every method validates its arguments in TypeScript before calling the native core and
 * throws the typed errors of `errors.ts`. All heavy work runs on the native side off the
 * JS thread (the methods return Promises), so the event loop stays responsive. Calls on one
 * model are serialized: a second call waits for the first to finish.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import type { OutputInfo } from 'sharp';

import { createConfig, type ConfigInput, type ModelConfig } from './config.js';
import { centerCropBox, type CropBox } from './data/augment.js';
import { distributedWorld } from './distributed.js';
import { NORMALIZATION } from './data/normalize.js';
import {
  DTypeError,
  ImageError,
  InvalidArgumentError,
  IoError,
  LabelError,
  MemoryError,
  NonFiniteError,
  ShapeError,
  WeightsError,
  abortErrorFor,
  throwIfAborted,
} from './errors.js';
import { loadSharp } from './internal/sharp.js';
import { weightsBytesFor } from './weights/source.js';
import { exportDenseNetToOnnx } from './onnx/export.js';
import { resolveExportOptions, type ExportOnnxOptions, type OnnxExportInfo } from './onnx/options.js';
import { callNative, callNativeAsync, loadNative, type BackendChoice, type MemoryEstimate, type NativeModel } from './native.js';
import { PREPROCESSING_METADATA_KEY, checkPreprocessing, readWeightsInfo, type Preprocessing } from './weights.js';
import {
  FROZEN_BATCH_NORM_MODES,
  checkParamGroups,
  specsJson,
  type FreezeSpec,
  type FrozenBatchNormMode,
  type ParamGroupOptions,
  type ParameterInfo,
  type ResetClassifierOptions,
} from './finetune.js';



/**
 * The memory a config needs on an NCHW input shape, from the network's plan alone (nothing is
 * allocated). Compare {@link MemoryEstimate.trainingEfficient} and `trainingNaive` to see what
 * the memory-efficient implementation saves.
 *
 * @example
 * ```ts
 * const est = estimateMemory('densenet-bc-100', [64, 3, 32, 32]);
 * console.log(est.trainingEfficient / 2 ** 20, 'MiB of activations per training step');
 * ```
 * @param presetOrConfig - a preset name or a (partial) config
 * @param shape - `[N, C, H, W]`
 * @param dtype - element type, `'f32'` (default) or `'f64'`
 * @category Model
 */
export function estimateMemory(presetOrConfig: ConfigInput, shape: readonly number[], dtype: DType = 'f32'): MemoryEstimate {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ShapeError(`shape must be an array of non-negative integers [N, C, H, W], got ${JSON.stringify(shape)}`);
  }
  const config = createConfig(presetOrConfig);
  const native = loadNative();
  return JSON.parse(callNative(() => native.memoryEstimate(JSON.stringify(config), [...shape], dtype))) as MemoryEstimate;
}

/**
 * Storage precision of the weights on the native side. Inputs and logits are always float32.
 *
 * @category Model
 */
export type DType = 'f32' | 'f64';

/**
 * Training memory layout. `'efficient'` (default): shared feature/gradient storage and
 * recomputation, memory linear in depth. `'naive'`: stores every concatenation (for comparison).
 *
 * @category Model
 */
export type MemoryMode = 'efficient' | 'naive';

/**
 * The memory modes, in the order the native core documents them.
 *
 * @category Model
 */
export const MEMORY_MODES: readonly MemoryMode[] = ['efficient', 'naive'];

/**
 * Options of {@link DenseNet.create}.
 *
 * @category Model
 */
export interface CreateOptions {
  /** Weight precision (default `'f32'`). */
  dtype?: DType;
  /** Seed of the weight initialization (default 0); the same seed gives the same weights. */
  seed?: number;
  /** Load the CUDA build of the native addon (default: `DENSENET_CUDA=1` in the environment, or a `'cuda'` device). */
  cuda?: boolean;
  /**
   * Where the model computes: `'cpu'` (default), `'cuda'` (GPU 0) or `'cuda:N'`. A CUDA device
   * loads the CUDA build of the addon (`@densenet-sdk/linux-x64-gnu-cuda`); when it cannot be used
   * (CPU build, no NVIDIA driver or GPU, a missing CUDA library, no GPU N) creating the model
   * throws a `DeviceError` (`ERR_DEVICE`) naming what is missing.
   */
  device?: 'cpu' | 'cuda' | `cuda:${number}`;
  /**
   * Which build of the core runs the model: `'native'` (the addon), `'wasm'` (the WebAssembly
   * build, one thread) or `'auto'` (the addon, else WASM). Default: `$DENSENET_BACKEND`, else `'auto'`.
   */
  backend?: BackendChoice;
}

/**
 * Options of the asynchronous model calls: a signal to cancel them.
 *
 * @category Model
 */
export interface CallOptions {
  /**
   * Cancels the call: it rejects with an {@link AbortError} at once. A call still waiting for an
   * earlier one on the same model never starts; one already running in the native core finishes
   * there (its result is dropped; a `trainStep` has then updated the weights), and the model stays
   * usable.
   */
  signal?: AbortSignal;
}

/**
 * Options of {@link DenseNet.trainStep}.
 *
 * @category Model
 */
export interface TrainStepOptions extends CallOptions {
  /**
   * Data-parallel step over the MPI job this process is a rank of (the process must run under
   * `mpirun` with the MPI variant of the addon, see {@link distributedWorld}): the batch is this
   * rank's share of the global batch, the gradients are summed over all ranks (weighted by each
   * rank's share) so every rank applies the same update, and the result is the global batch's
   * loss and correct count. `syncBatchNorm`: BN statistics over the global batch (default: each
   * rank's own batch, DDP's semantics).
   */
  distributed?: { syncBatchNorm?: boolean };
}

/**
 * Options of {@link DenseNet.load}.
 *
 * @category Model
 */
export interface LoadOptions extends Omit<CreateOptions, 'seed'>, CallOptions {
  /**
   * Fine-tuning to another number of classes: when the file's classifier has a different class
   * count, the file is loaded with its own count and the classifier is then replaced by a new one
   * for `numClasses` (see {@link DenseNet.resetClassifier}); the stored preprocessing is kept,
   * its class names replaced by `classNames` (or dropped). Any other shape mismatch is a {@link WeightsError}.
   */
  numClasses?: number;
  /** Class names of the new head (with `numClasses`). */
  classNames?: string[];
  /** Seed of the new head's initialization (with `numClasses`; default 0). */
  headSeed?: number;
}

/**
 * Options of {@link DenseNet.save}.
 *
 * @category Model
 */
export interface SaveOptions extends CallOptions {
  /**
   * The preprocessing stored with the weights (metadata key `densenet.preprocessing`); default:
   * the model's {@link DenseNet.preprocessing}. `null` stores none.
   */
  preprocessing?: Preprocessing | null;
  /** More metadata to store in the safetensors header (string → string; keys starting with `densenet.` are reserved). */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * An NCHW batch shape `[n, c, h, w]`.
 *
 * @category Model
 */
export type Shape4 = readonly [n: number, c: number, h: number, w: number];

/**
 * One row of a summary: a stage of the network (like a row of the paper's Table 1).
 *
 * @category Model
 */
export interface StageSummary {
  /** Stage name as the native core reports it, e.g. `Dense Block (1)`. */
  name: string;
  /** Output shape `[C, H, W]` of the stage for the summarized input size. */
  outputShape: [channels: number, height: number, width: number];
  /** Parameters in this stage. */
  params: number;
}

/**
 * Result of {@link DenseNet.summary}.
 *
 * @category Model
 */
export interface ModelSummary {
  /** Input `[height, width]` the table was computed for. */
  inputSize: [height: number, width: number];
  /** One row per stage, in forward order. */
  stages: StageSummary[];
  /** Total number of parameters (equals {@link DenseNet.parameterCount}). */
  total: number;
}

/**
 * One entry of {@link Prediction.topK}.
 *
 * @category Model
 */
export interface TopKEntry {
  /** Class index in `[0, numClasses)`. */
  index: number;
  /** Raw logit of the class. */
  logit: number;
  /** Softmax probability of the class. */
  probability: number;
  /** The class name, when the prediction has {@link Prediction.classNames}. */
  label?: string;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a plain Array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/**
 * Logits of a batch, with helpers to read them: softmax probabilities, arg-max, top-k (with
 * class names when the model's preprocessing has them).
 *
 * @example
 * ```ts
 * const model = await DenseNet.load('runs/mnist/best.safetensors');
 * const pred = await model.predictImages(['three.png', 'seven.png']);
 * pred.shape;          // [2, 10]
 * pred.argmax();       // Int32Array [3, 7]
 * pred.topK(2)[0];     // [{ index: 3, logit, probability: 0.98, label: '3' }, { index: 8, ... }]
 * pred.row(1);         // the 10 logits of the second image
 * ```
 *
 * @category Model
 */
export class Prediction {
  /** Row-major logits, `shape[0] * shape[1]` values. */
  readonly logits: Float32Array;
  /** `[n, classes]`. */
  readonly shape: [n: number, classes: number];
  /** Class names, index = class (from the model's preprocessing), or `null`. */
  readonly classNames: readonly string[] | null;

  /**
   * @param logits - row-major logits
   * @param shape - `[n, classes]`; `n * classes` must equal `logits.length`
   * @param classNames - optional class names (`classes` of them)
   */
  constructor(logits: Float32Array, shape: readonly [number, number], classNames: readonly string[] | null = null) {
    if (!(logits instanceof Float32Array)) throw new DTypeError(`logits must be a Float32Array, got ${typeName(logits)}`);
    if (shape.length !== 2 || shape[0] * shape[1] !== logits.length) {
      throw new ShapeError(`logits of length ${logits.length} do not fit shape [${shape.join(', ')}]`);
    }
    if (classNames !== null && (!Array.isArray(classNames) || classNames.length !== shape[1])) {
      throw new InvalidArgumentError(`classNames must be ${shape[1]} names, got ${Array.isArray(classNames) ? classNames.length : typeName(classNames)}`);
    }
    this.logits = logits;
    this.shape = [shape[0], shape[1]];
    this.classNames = classNames === null ? null : Object.freeze([...classNames]);
  }

  /**
   * The logits of sample `i`.
   *
   * @param i - sample index in `[0, n)`
   */
  row(i: number): Float32Array {
    const [n, k] = this.shape;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new InvalidArgumentError(`row index must be in [0, ${n}), got ${i}`);
    return this.logits.subarray(i * k, (i + 1) * k);
  }

  /** Softmax probabilities, row-major, same shape as the logits. */
  probabilities(): Float32Array {
    const [n, k] = this.shape;
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j < k; j++) max = Math.max(max, this.logits[i * k + j]!);
      let sum = 0;
      for (let j = 0; j < k; j++) sum += Math.exp(this.logits[i * k + j]! - max);
      for (let j = 0; j < k; j++) out[i * k + j] = Math.exp(this.logits[i * k + j]! - max) / sum;
    }
    return out;
  }

  /** The arg-max class of each sample. */
  argmax(): Int32Array {
    const [n, k] = this.shape;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (this.logits[i * k + j]! > this.logits[i * k + best]!) best = j;
      out[i] = best;
    }
    return out;
  }

  /**
   * The `k` most likely classes of each sample, most likely first.
   *
   * @param k - positive integer; clamped to the number of classes
   * @returns one array per sample
   */
  topK(k: number): TopKEntry[][] {
    if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`k must be a positive integer, got ${String(k)}`);
    const [n, classes] = this.shape;
    const probs = this.probabilities();
    const names = this.classNames;
    const result: TopKEntry[][] = [];
    for (let i = 0; i < n; i++) {
      const idx = Array.from({ length: classes }, (_, j) => j);
      idx.sort((a, b) => this.logits[i * classes + b]! - this.logits[i * classes + a]! || a - b);
      result.push(
        idx.slice(0, Math.min(k, classes)).map((j) => ({
          index: j,
          logit: this.logits[i * classes + j]!,
          probability: probs[i * classes + j]!,
          ...(names ? { label: names[j]! } : {}),
        })),
      );
    }
    return result;
  }
}

/**
 * Result of {@link DenseNet.trainStep}.
 *
 * @category Model
 */
export interface TrainStepResult {
  /** Mean cross-entropy loss of the batch (before the update). */
  loss: number;
  /** Number of samples classified correctly (before the update). */
  correct: number;
}

/**
 * Result of {@link DenseNet.evalStep}.
 *
 * @category Model
 */
export interface EvalStepResult extends TrainStepResult {
  /** Eval-mode logits of the batch, `[n, classes]`. */
  prediction: Prediction;
}

/**
 * SGD settings of {@link DenseNet.setOptimizer}. Missing fields take the defaults of the paper's
 * CIFAR recipe; the native core validates the values and fills the defaults.
 *
 * @category Model
 */
export interface OptimizerOptions {
  /**
   * Parameter groups with their own lr and weight decay (default: none); `setOptimizer` replaces
   * the model's groups with these.
   */
  groups?: ParamGroupOptions[];
  /** Learning rate, >= 0 (default 0.1). */
  lr?: number;
  /** Momentum in [0, 1) (default 0.9). */
  momentum?: number;
  /** Nesterov momentum (default `true`; needs momentum > 0). */
  nesterov?: boolean;
  /** L2 weight decay, >= 0 (default 1e-4). */
  weightDecay?: number;
}

/**
 * Image preprocessing of {@link DenseNet.predictImages} and {@link imagesToTensor}.
 *
 * @category Model
 */
export interface ImageOptions {
  /**
   * The network's input: `n` for a square n×n crop or `[height, width]` (default: the model's
   * stored {@link Preprocessing.inputSize}, else 32 for `smallInputs` models and 224 otherwise).
   */
  size?: number | readonly [height: number, width: number];
  /**
   * Length of the shorter side after resizing, before the center crop (default: the smallest size
   * that covers `size`; torchvision's ImageNet evaluation uses 256 for 224).
   */
  resize?: number;
  /** Per-channel mean subtracted after scaling pixels to [0, 1] (default: the stored preprocessing, else CIFAR or ImageNet statistics for 3 channels, 0 for 1). */
  mean?: readonly number[];
  /** Per-channel std divided by (default: the stored preprocessing, else CIFAR or ImageNet statistics for 3 channels, 1 for 1). */
  std?: readonly number[];
  /** Channels to decode to: 3 (RGB) or 1 (grayscale). {@link DenseNet.predictImages} uses the model's `inChannels`. */
  channels?: number;
}

/**
 * Options of {@link imagesToTensor}.
 *
 * @category Model
 */
export interface ImagesToTensorOptions extends ImageOptions {
  /** Stops decoding (between images); the promise rejects with an {@link AbortError}. */
  signal?: AbortSignal;
}

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

/**
 * A decoded, normalized batch of images.
 *
 * @category Model
 */
export interface ImageTensor {
  /** NCHW float32 data. */
  data: Float32Array;
  /** `[n, c, height, width]`. */
  shape: [n: number, c: number, h: number, w: number];
}

/** ImageNet per-channel mean (RGB), used by torchvision's pretrained DenseNets. @internal */
export const IMAGENET_MEAN: readonly number[] = NORMALIZATION.imagenet.mean;
/** ImageNet per-channel std (RGB). @internal */
export const IMAGENET_STD: readonly number[] = NORMALIZATION.imagenet.std;
/** CIFAR-10 per-channel mean (RGB) of the reference training code. @internal */
export const CIFAR_MEAN: readonly number[] = NORMALIZATION.cifar10.mean;
/** CIFAR-10 per-channel std (RGB) of the reference training code. @internal */
export const CIFAR_STD: readonly number[] = NORMALIZATION.cifar10.std;

function checkPositiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function checkSize(v: unknown): [number, number] {
  if (typeof v === 'number') {
    const n = checkPositiveInt('size', v);
    return [n, n];
  }
  if (Array.isArray(v) && v.length === 2) return [checkPositiveInt('size[0] (height)', v[0]), checkPositiveInt('size[1] (width)', v[1])];
  throw new InvalidArgumentError(`size must be a positive integer or [height, width], got ${typeName(v)}`);
}

/**
 * Validates an NCHW float32 batch and its shape.
 *
 * @param input - must be a `Float32Array` with finite values
 * @param shape - `[n, c, h, w]`, positive integers whose product is `input.length`
 * @param inChannels - required `c`
 * @returns the shape as a plain number array
 * @throws {@link DTypeError} for a non-Float32Array; {@link ShapeError} for a bad shape;
 *   {@link NonFiniteError} for NaN/Infinity (naming the index)
 * @internal
 */
export function validateBatch(input: unknown, shape: unknown, inChannels: number): number[] {
  if (!(input instanceof Float32Array)) {
    throw new DTypeError(`input must be a Float32Array, got ${typeName(input)}`);
  }
  if (!Array.isArray(shape) && !(shape instanceof Int32Array) && !(shape instanceof Uint32Array)) {
    throw new ShapeError(`shape must be an array [n, c, h, w], got ${typeName(shape)}`);
  }
  const dims = Array.from(shape as ArrayLike<unknown>);
  if (dims.length !== 4) {
    throw new ShapeError(`shape must have 4 dimensions [n, c, h, w], got ${dims.length}: [${dims.join(', ')}]`);
  }
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) {
      throw new ShapeError(`shape[${i}] must be a positive integer, got ${String(d)}`);
    }
  });
  const nums = dims as number[];
  const product = nums.reduce((a, b) => a * b, 1);
  if (product !== input.length) {
    throw new ShapeError(
      `input has ${input.length} values but shape [${nums.join(', ')}] needs ${product}`,
    );
  }
  if (nums[1] !== inChannels) {
    throw new ShapeError(`shape[1] (channels) must equal the model's inChannels ${inChannels}, got ${nums[1]}`);
  }
  for (let i = 0; i < input.length; i++) {
    if (!Number.isFinite(input[i]!)) throw new NonFiniteError(`input[${i}] is ${input[i]}`);
  }
  return nums;
}

/**
 * Validates class labels.
 *
 * @param labels - must be an `Int32Array`
 * @param n - batch size (required length)
 * @param numClasses - each label must be in `[0, numClasses)`
 * @throws {@link DTypeError} for a non-Int32Array; {@link LabelError} for a wrong length or a
 *   value out of range (naming the index and the value)
 * @internal
 */
export function validateLabels(labels: unknown, n: number, numClasses: number): Int32Array {
  if (!(labels instanceof Int32Array)) {
    throw new DTypeError(`labels must be an Int32Array, got ${typeName(labels)}`);
  }
  if (labels.length !== n) {
    throw new LabelError(`labels has length ${labels.length} but the batch has ${n} samples`);
  }
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (v < 0 || v >= numClasses) {
      throw new LabelError(`labels[${i}] = ${v} is outside [0, ${numClasses})`);
    }
  }
  return labels;
}

function checkPath(name: string, path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError(`${name} must be a non-empty string, got ${typeName(path)}`);
  }
  return path;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean' || typeof (signal as AbortSignal).addEventListener !== 'function') {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${typeName(signal)}`);
  }
  return signal as AbortSignal;
}

function channelStats(
  name: 'mean' | 'std',
  given: readonly number[] | undefined,
  fallback: readonly number[],
  channels: number,
): number[] {
  const v = given ?? fallback;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new InvalidArgumentError(`${name} must be an array of finite numbers, got ${typeName(v)}`);
  }
  const arr = v.length === 1 ? Array(channels).fill(v[0]) : [...v];
  if (arr.length !== channels) {
    throw new InvalidArgumentError(`${name} must have 1 or ${channels} values, got ${v.length}`);
  }
  if (name === 'std' && arr.some((x) => x <= 0)) throw new InvalidArgumentError(`std values must be > 0, got [${arr.join(', ')}]`);
  return arr;
}

/** The batch tensor of imagesToTensor; a size too large to allocate is an InvalidArgumentError naming `size`. */
function allocateBatch(n: number, c: number, h: number, w: number): Float32Array {
  const elements = n * c * h * w;
  const what = `size ${h}x${w} for ${n} image${n === 1 ? '' : 's'} of ${c} channel${c === 1 ? '' : 's'} needs a tensor of ${elements} floats (${(elements * 4 / 2 ** 30).toFixed(1)} GiB)`;
  try {
    return new Float32Array(elements);
  } catch (err) {
    throw new InvalidArgumentError(`${what}, more than can be allocated: choose a smaller size or fewer images`, { cause: err });
  }
}

/**
 * Decodes images with sharp into one normalized NCHW float32 batch: EXIF orientation applied,
 * alpha dropped, converted to RGB (or grayscale), the centered window that a resize (the shorter
 * side to `resize`, or by default just enough to cover `size`) and a center crop to `size` would
 * keep, resized to `size`; pixels scaled to [0, 1], then `(x - mean) / std` per channel. This is
 * the data pipeline's evaluation transform. sharp is loaded on the first call.
 *
 * @param images - file paths or encoded image buffers (PNG, JPEG, WebP, ...)
 * @param options - size, resize, mean, std, channels (defaults: 224, ImageNet statistics, 3 channels), signal
 * @throws {@link IoError} for a missing file; {@link ImageError} for an undecodable image (or when
 *   sharp cannot be loaded); {@link AbortError} when `signal` fires
 *
 * @category Model
 */
export async function imagesToTensor(
  images: readonly (string | Uint8Array)[],
  options: ImagesToTensorOptions = {},
): Promise<ImageTensor> {
  if (!Array.isArray(images) || images.length === 0) {
    throw new InvalidArgumentError('images must be a non-empty array of file paths or Buffers');
  }
  const signal = checkSignal(options.signal);
  const [h, w] = checkSize(options.size ?? 224);
  const resize = options.resize === undefined ? undefined : checkPositiveInt('resize', options.resize);
  if (resize !== undefined && resize < Math.max(h, w)) {
    throw new InvalidArgumentError(`resize (${resize}) must be >= the crop size (${Math.max(h, w)})`);
  }
  const c = options.channels ?? 3;
  if (c !== 1 && c !== 3) throw new InvalidArgumentError(`channels must be 1 or 3, got ${String(c)}`);
  const mean = channelStats('mean', options.mean, c === 3 ? IMAGENET_MEAN : [0], c);
  const std = channelStats('std', options.std, c === 3 ? IMAGENET_STD : [1], c);
  throwIfAborted(signal, 'imagesToTensor');
  let sharp: Awaited<ReturnType<typeof loadSharp>>;
  try {
    sharp = await loadSharp();
  } catch (err) {
    throw new ImageError(`the image decoder (sharp) could not be loaded: ${(err as Error).message}`, { cause: err });
  }

  const plane = h * w;
  const data = allocateBatch(images.length, c, h, w);
  for (let n = 0; n < images.length; n++) {
    throwIfAborted(signal, 'imagesToTensor');
    const src = images[n];
    const label = typeof src === 'string' ? src : `images[${n}] (buffer)`;
    if (typeof src === 'string') {
      if (!existsSync(src)) throw new IoError(`image file not found: ${src}`);
    } else if (!(src instanceof Uint8Array)) {
      throw new InvalidArgumentError(`images[${n}] must be a file path or a Buffer, got ${typeName(src)}`);
    }
    let pixels: Buffer;
    let info: OutputInfo;
    try {
      // Decode (EXIF orientation applied, alpha dropped, RGB or grayscale), then crop the
      // centered window in source pixels and resize it to h×w — the evaluation transform of the
      // data pipeline (torchvision's Resize + CenterCrop), so predictions match evaluation.
      let pipe = sharp(src, { failOn: 'error' }).rotate().removeAlpha();
      pipe = c === 3 ? pipe.toColourspace('srgb') : pipe.toColourspace('b-w');
      const decoded = await pipe.raw().toBuffer({ resolveWithObject: true });
      const { width: w0, height: h0, channels: c0 } = decoded.info;
      const box = resize === undefined ? coverCropBox(w0, h0, h, w) : centerCropBox(w0, h0, h, w, resize);
      ({ data: pixels, info } = await sharp(decoded.data, { raw: { width: w0, height: h0, channels: c0 } })
        .extract(box)
        .resize(w, h, { fit: 'fill' })
        .raw()
        .toBuffer({ resolveWithObject: true }));
    } catch (err) {
      throw new ImageError(`cannot decode image ${label}: ${(err as Error).message}`, { cause: err });
    }
    const { width, height, channels } = info;
    if (width !== w || height !== h || channels < c) {
      throw new ImageError(`image ${label} decoded to ${width}x${height}x${channels}, expected ${w}x${h}x${c}`);
    }
    const x0 = 0;
    const y0 = 0;
    const base = n * c * plane;
    for (let ch = 0; ch < c; ch++) {
      const m = mean[ch]!;
      const s = std[ch]!;
      const out = base + ch * plane;
      for (let y = 0; y < h; y++) {
        const row = ((y0 + y) * width + x0) * channels + ch;
        for (let x = 0; x < w; x++) {
          data[out + y * w + x] = (pixels[row + x * channels]! / 255 - m) / s;
        }
      }
    }
  }
  return { data, shape: [images.length, c, h, w] };
}

/** The largest centered window of a `width`×`height` image with the aspect ratio of `outH`×`outW` (scale to cover, then center-crop). */
function coverCropBox(width: number, height: number, outH: number, outW: number): CropBox {
  const s = Math.max(outW / width, outH / height);
  const w = Math.max(1, Math.min(width, Math.round(outW / s)));
  const h = Math.max(1, Math.min(height, Math.round(outH / s)));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.length === 1 ? a[0]! : a[i];
    const y = b.length === 1 ? b[0]! : b[i];
    if (x === undefined || y === undefined || Math.abs(x - y) > 1e-6 * Math.max(1, Math.abs(y))) return false;
  }
  return true;
}

function defaultWarning(message: string): void {
  process.emitWarning(message, { type: 'DenseNetWarning', code: 'DENSENET_PREPROCESSING' });
}

/**
 * A DenseNet (Huang et al., CVPR 2017) whose weights live in the native core.
 *
 * Every asynchronous call runs in the native core off the JS thread; calls on one model run one
 * at a time, in call order. {@link DenseNet.dispose} frees the native memory at once.
 *
 * @example
 * ```ts
 * const model = DenseNet.create('densenet-bc-100', { seed: 1 });
 * const out = await model.predict(new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32]);
 * console.log(out.topK(5));
 * model.dispose();
 * ```
 *
 * @category Model
 */
export class DenseNet {
  #config: Readonly<ModelConfig>;
  /** Weight precision on the native side. */
  readonly dtype: DType;
  readonly #native: NativeModel;
  #memoryMode: MemoryMode = 'efficient';
  #tail: Promise<unknown> = Promise.resolve();
  #preprocessing: Readonly<Preprocessing> | null = null;
  #disposed: Promise<void> | null = null;

  private constructor(native: NativeModel, config: ModelConfig, dtype: DType) {
    this.#native = native;
    this.#config = Object.freeze({ ...config, blockConfig: [...config.blockConfig] });
    this.dtype = dtype;
  }

  /**
   * Creates a freshly initialized model (conv weights ~ N(0, 2/(out·kh·kw)), BN weight 1 / bias 0,
   * linear bias 0).
   *
   * @param presetOrConfig - a preset name or a (partial) config, see {@link createConfig}
   * @param options - dtype (default `'f32'`), seed (default 0), device (`'cpu'` | `'cuda'` | `'cuda:N'`), cuda, backend (`'native'` | `'wasm'` | `'auto'`)
   * @throws {@link ConfigError} for an invalid config; {@link InvalidArgumentError} for bad options
   */
  static create(presetOrConfig: ConfigInput, options: CreateOptions = {}): DenseNet {
    const { dtype = 'f32', seed = 0, backend, device } = options;
    if (dtype !== 'f32' && dtype !== 'f64') throw new InvalidArgumentError(`dtype must be 'f32' or 'f64', got ${String(dtype)}`);
    if (device !== undefined && (typeof device !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(device))) {
      throw new InvalidArgumentError(`device must be 'cpu', 'cuda' or 'cuda:N', got ${String(device)}`);
    }
    const onGpu = device !== undefined && device !== 'cpu';
    const cuda = options.cuda ?? (onGpu ? true : undefined);
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
      throw new InvalidArgumentError(`seed must be a non-negative integer, got ${String(seed)}`);
    }
    const binding = loadNative({ ...(cuda === undefined ? {} : { cuda }), ...(backend === undefined ? {} : { backend }) });
    const config = createConfig(presetOrConfig);
    const native = callNative(() => (onGpu ? new binding.NativeModel(JSON.stringify(config), dtype, seed, device) : new binding.NativeModel(JSON.stringify(config), dtype, seed)));
    const normalized = JSON.parse(callNative(() => native.configJson())) as ModelConfig;
    return new DenseNet(native, normalized, dtype);
  }

  /**
   * Loads a model from a weights file: the architecture stored in it (files saved by this
   * SDK carry it) or the given one, the weights, and the stored {@link Preprocessing} (see
   * {@link DenseNet.preprocessing}).
   *
   * Besides safetensors, PyTorch's `torch.save` files load directly, without Python: torchvision's
   * `.pth` (the zip format, stored or deflated, and the legacy pre-1.6 format), `.pt` / `.bin`,
   * with old torchvision names (`denselayer1.norm.1.weight`), `nn.DataParallel`'s `module.`
   * prefix, or a checkpoint dict holding the state dict under `state_dict` / `model`; float16,
   * bfloat16, float32 and float64 tensors, strided or not, are converted to the model's dtype.
   * The format is told by the file's first bytes, not its extension. The pickle inside is read by
   * an allow-list unpickler that never runs code: any global other than PyTorch's tensor and
   * storage rebuilders and `OrderedDict` is refused with a {@link WeightsError} naming it. timm's
   * DenseNet safetensors use torchvision's names and load as they are. PyTorch files carry no
   * architecture: pass it.
   *
   * @example
   * ```ts
   * const model = await DenseNet.load('runs/mnist/best.safetensors');              // saved by this SDK
   * const tv = await DenseNet.load('densenet121-torchvision.safetensors', 'densenet121'); // converted weights
   * const pth = await DenseNet.load('densenet121-a639ec97.pth', 'densenet121');          // torchvision's own file
   * ```
   *
   * @param path - the weights file (as written by {@link DenseNet.save} or the training loop, or
   *   torchvision weights converted to safetensors)
   * @param presetOrConfig - the architecture; default (`undefined` or `null`): the one stored in the file
   * @param options - dtype, device, cuda, signal
   * @throws {@link IoError} when the file cannot be read; {@link WeightsError} when it does not fit
   *   the architecture, or when no config is given and the file stores none;
   *   {@link AbortError} when `signal` fires
   */
  static async load(path: string, presetOrConfig?: ConfigInput | null, options: LoadOptions = {}): Promise<DenseNet> {
    checkPath('path', path);
    const signal = checkSignal(options.signal);
    throwIfAborted(signal, `loading ${path}`);
    if (!existsSync(path)) throw new IoError(`weights file not found: ${path}`);
    let config: ConfigInput | null | undefined = presetOrConfig;
    if (config === undefined || config === null) {
      const info = readWeightsInfo(path);
      config = info.config;
      if (!config) {
        const why =
          info.format === 'safetensors'
            ? 'no "densenet.config" in its safetensors metadata: it was not saved by densenet-sdk, e.g. converted torchvision weights'
            : 'a PyTorch file stores the weights only';
        throw new WeightsError(
          `${path} carries no architecture (${why}); pass the config: ` +
            `DenseNet.load(path, 'densenet121'), or on the command line --config <preset|config.json>`,
        );
      }
    }
    const { dtype, cuda, backend, device } = options;
    const head = newHead(path, options);
    if (head) config = { ...createConfig(config), numClasses: head.fileClasses };
    const model = DenseNet.create(config, {
      ...(dtype !== undefined ? { dtype } : {}),
      ...(cuda !== undefined ? { cuda } : {}),
      ...(backend !== undefined ? { backend } : {}),
      ...(device !== undefined ? { device } : {}),
    });
    try {
      await model.load(path, signal ? { signal } : {});
      if (head && head.fileClasses !== head.numClasses) {
        model.resetClassifier(head.numClasses, { seed: head.seed, ...(head.classNames ? { classNames: head.classNames } : {}) });
      } else if (head?.classNames && model.preprocessing) {
        model.setPreprocessing({ ...model.preprocessing, classNames: head.classNames });
      }
    } catch (err) {
      await model.dispose();
      throw err;
    }
    return model;
  }

  #checkAlive(what: string): void {
    if (this.#disposed) {
      throw new InvalidArgumentError(`${what}: the model was disposed (dispose() was called); create or load a new model`);
    }
  }

  /** Runs `fn` after every earlier call on this model has settled; `signal` cancels the wait (and drops the result). */
  #enqueue<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      this.#checkAlive(what);
      throwIfAborted(signal, what);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.#tail.then(() => {
      throwIfAborted(signal, what);
      return callNativeAsync(fn);
    });
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    if (!signal) return run;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(abortErrorFor(what, signal));
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** The normalized configuration of this model (its numClasses changes with {@link DenseNet.resetClassifier}). */
  get config(): Readonly<ModelConfig> {
    return this.#config;
  }

  /** Number of output classes. */
  get numClasses(): number {
    return this.config.numClasses;
  }

  /** Number of input channels. */
  get inChannels(): number {
    return this.config.inChannels;
  }

  /**
   * How images must be prepared for this model (input size, channels, normalization, class
   * names), or `null` when unknown. Read from the weights file by {@link DenseNet.load}, set by
   * the training loop and {@link DenseNet.setPreprocessing}, written by {@link DenseNet.save}, and
   * used by {@link DenseNet.predictImages}, `evaluate` and the CLI by default.
   */
  get preprocessing(): Readonly<Preprocessing> | null {
    return this.#preprocessing;
  }

  /**
   * Sets (or with `null` clears) the model's {@link DenseNet.preprocessing}.
   *
   * @param preprocessing - channels must equal `inChannels`; classNames (optional) must have `numClasses` names
   * @throws {@link InvalidArgumentError} naming the field
   */
  setPreprocessing(preprocessing: Preprocessing | null): void {
    this.#preprocessing = preprocessing === null ? null : Object.freeze(checkPreprocessing(preprocessing, this));
  }

  /** Whether {@link DenseNet.dispose} was called. */
  get disposed(): boolean {
    return this.#disposed !== null;
  }

  /** Number of trainable parameters (conv weights + BN affine + linear), as counted by the native core. */
  get parameterCount(): number {
    this.#checkAlive('parameterCount');
    return callNative(() => this.#native.paramCount());
  }

  /**
   * The per-stage table of the network for an input of `height` x `width` (the paper's Table 1).
   *
   * @param height - input height (default 32 for `smallInputs`, else 224)
   * @param width - input width (default: `height`)
   */
  summary(height?: number, width?: number): ModelSummary {
    this.#checkAlive('summary');
    const h = checkPositiveInt('height', height ?? (this.config.smallInputs ? 32 : 224));
    const w = checkPositiveInt('width', width ?? h);
    const raw = JSON.parse(callNative(() => this.#native.summaryJson(h, w))) as {
      stages: { name: string; outputShape: number[]; params: number }[];
      total: number;
    };
    return {
      inputSize: [h, w],
      stages: raw.stages.map((s) => ({
        name: s.name,
        outputShape: [s.outputShape[0]!, s.outputShape[1]!, s.outputShape[2]!],
        params: s.params,
      })),
      total: raw.total,
    };
  }

  /**
   * Eval-mode forward pass (BN running statistics, no dropout).
   *
   * Do not modify `input` until the promise settles.
   *
   * @param input - NCHW float32 batch
   * @param shape - `[n, c, h, w]`; `c` must equal `config.inChannels`
   * @param options - signal
   * @returns the logits, `[n, numClasses]` (with the class names of the model's preprocessing)
   * @throws {@link DTypeError}, {@link ShapeError}, {@link NonFiniteError} for bad input (the promise
   *   rejects); {@link AbortError} when `signal` fires
   */
  async predict(input: Float32Array, shape: readonly number[], options: CallOptions = {}): Promise<Prediction> {
    const signal = checkSignal(options.signal);
    const dims = validateBatch(input, shape, this.config.inChannels);
    const logits = await this.#enqueue('predict', () => this.#native.predict(input, dims), signal);
    return new Prediction(logits, [dims[0]!, this.config.numClasses], this.#preprocessing?.classNames ?? null);
  }

  /**
   * Decodes, resizes/center-crops and normalizes images with sharp (see {@link imagesToTensor}),
   * then runs {@link DenseNet.predict}.
   *
   * By default it prepares the images as the model's stored {@link DenseNet.preprocessing} says
   * (input size, resize, grayscale or RGB, mean/std; the prediction carries its class names).
   * An option that contradicts the stored preprocessing is used, with a warning (`onWarning`).
   * Without stored preprocessing: size 32 and CIFAR statistics for `smallInputs` models, size
   * 224 and ImageNet statistics otherwise, the model's `inChannels`.
   *
   * @example
   * ```ts
   * const model = await DenseNet.load('runs/mnist/best.safetensors'); // stores 28×28, grayscale, MNIST mean/std
   * const pred = await model.predictImages(['digit.png']);
   * const [best] = pred.topK(1)[0]!;
   * console.log(best.label, best.probability);                           // '3' 0.97
   *
   * // A model without stored preprocessing: say how it was trained.
   * const tv = await DenseNet.load('densenet121.safetensors', 'densenet121');
   * await tv.predictImages('cat.jpg', { size: 224, resize: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
   * ```
   *
   * @param images - file paths or encoded image buffers
   * @param options - size, resize, mean, std, signal, onWarning
   * @throws {@link IoError}, {@link ImageError} for unreadable images; {@link AbortError} when `signal` fires
   */
  async predictImages(
    images: readonly (string | Uint8Array)[] | string | Uint8Array,
    options: PredictImagesOptions = {},
  ): Promise<Prediction> {
    const signal = checkSignal(options.signal);
    this.#checkAlive('predictImages');
    const list = typeof images === 'string' || images instanceof Uint8Array ? [images] : images;
    const c = this.config.inChannels;
    if (c !== 1 && c !== 3) throw new InvalidArgumentError(`predictImages supports 1 or 3 input channels, the model has ${c}`);
    const p = this.#preprocessing;
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
      const small = this.config.smallInputs;
      size = options.size ?? (small ? 32 : 224);
      resize = options.resize;
      mean = options.mean ?? (c === 3 ? (small ? CIFAR_MEAN : IMAGENET_MEAN) : [0]);
      std = options.std ?? (c === 3 ? (small ? CIFAR_STD : IMAGENET_STD) : [1]);
    }
    if (options.channels !== undefined && options.channels !== c) {
      throw new InvalidArgumentError(`channels must be the model's inChannels ${c}, got ${String(options.channels)}`);
    }
    const tensor = await imagesToTensor(list, {
      size,
      ...(resize !== undefined ? { resize } : {}),
      mean,
      std,
      channels: c,
      ...(signal ? { signal } : {}),
    });
    return this.predict(tensor.data, tensor.shape, signal ? { signal } : {});
  }

  /**
   * Writes the weights and BN statistics to a safetensors file with torchvision's names. The
   * header's metadata stores the architecture (`densenet.config`, so that {@link DenseNet.load}
   * needs no config) and the preprocessing (`densenet.preprocessing`).
   *
   * @param path - destination file
   * @param options - preprocessing (default: {@link DenseNet.preprocessing}), more metadata, signal
   * @throws {@link IoError} when the file cannot be written; {@link InvalidArgumentError} for bad metadata
   */
  async save(path: string, options: SaveOptions = {}): Promise<void> {
    checkPath('path', path);
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`save options must be an object, got ${typeName(options)}`);
    const signal = checkSignal(options.signal);
    const metadata: Record<string, string> = {};
    if (options.metadata !== undefined) {
      if (options.metadata === null || typeof options.metadata !== 'object' || Array.isArray(options.metadata)) {
        throw new InvalidArgumentError(`metadata must be an object of strings, got ${typeName(options.metadata)}`);
      }
      for (const [k, v] of Object.entries(options.metadata)) {
        if (k.startsWith('densenet.')) throw new InvalidArgumentError(`metadata key "${k}" is reserved (keys starting with "densenet.")`);
        if (typeof v !== 'string') throw new InvalidArgumentError(`metadata["${k}"] must be a string, got ${typeName(v)}`);
        metadata[k] = v;
      }
    }
    const pp = options.preprocessing === undefined ? this.#preprocessing : options.preprocessing;
    if (pp) metadata[PREPROCESSING_METADATA_KEY] = JSON.stringify(checkPreprocessing(pp, this));
    const json = Object.keys(metadata).length ? JSON.stringify(metadata) : null;
    await this.#enqueue('save', () => this.#native.save(path, json), signal);
  }

  /**
   * Writes the model as an ONNX file for onnxruntime and other ONNX consumers: the eval-mode
   * network (BN running statistics, no dropout) built from its config by the SDK itself, input
   * `input` (NCHW float32), output `logits` (`[batch, numClasses]`). The file's
   * `metadata_props` carry the config (`densenet.config`), the preprocessing
   * (`densenet.preprocessing`, JSON of {@link Preprocessing}) and the class names
   * (`densenet.classNames`, a JSON array) when the model has them. Written atomically: the
   * destination is the old file or the complete new one, never a part.
   *
   * @example
   * ```ts
   * const model = await DenseNet.load('runs/mnist/best.safetensors');
   * const info = await model.exportOnnx('mnist.onnx');          // dynamic batch, stored input size
   * info.foldedBatchNorms;                                      // ['features.denseblock1.denselayer1.norm2', ...]
   * // import * as ort from 'onnxruntime-node';
   * // const session = await ort.InferenceSession.create('mnist.onnx');
   * // const { logits } = await session.run({ input: new ort.Tensor('float32', pixels, [1, 1, 28, 28]) });
   * ```
   *
   * @param path - the .onnx file to write
   * @param options - opset (default 17, at least 7), batch (`'dynamic'` or N), inputSize, foldBatchNorm (default `true`), signal
   * @returns what was written: opset, input shape, which BatchNorms were folded, node count, bytes
   * @throws {@link InvalidArgumentError} for a disposed model or a bad option (an opset below 7
   *   names the minimum); {@link ShapeError} for an input size too small for the network;
   *   {@link IoError} naming the path when it cannot be written (no file is left);
   *   {@link AbortError} when `signal` fires
   */
  async exportOnnx(path: string, options: ExportOnnxOptions = {}): Promise<OnnxExportInfo> {
    checkPath('path', path);
    const resolved = resolveExportOptions(options);
    const signal = checkSignal(options.signal);
    this.#checkAlive('exportOnnx');
    throwIfAborted(signal, 'exportOnnx');
    const inputSize = resolved.inputSize ?? this.#preprocessing?.inputSize ?? (this.config.smallInputs ? [32, 32] : [224, 224]);
    this.summary(inputSize[0], inputSize[1]); // throws a ShapeError when the input is too small for the network
    return exportDenseNetToOnnx(
      {
        config: this.config,
        preprocessing: this.#preprocessing,
        saveTensors: (file) => this.save(file, { preprocessing: null, ...(signal ? { signal } : {}) }),
      },
      path,
      { ...resolved, inputSize: [inputSize[0], inputSize[1]], throwIfAborted: () => throwIfAborted(signal, 'exportOnnx') },
    );
  }

  /**
   * Replaces the weights with those of a safetensors file (torchvision names; the CIFAR
   * reference code's `norm_final` alias is accepted) or a PyTorch `.pth` / `.pt` / `.bin` file
   * (see {@link DenseNet.load}). When the file stores a preprocessing, it
   * becomes the model's {@link DenseNet.preprocessing} (otherwise that stays as it was).
   *
   * @param path - source file
   * @param options - signal
   * @throws {@link IoError} when it cannot be read; {@link WeightsError} when it does not fit this architecture
   */
  async load(path: string, options: CallOptions = {}): Promise<void> {
    checkPath('path', path);
    const signal = checkSignal(options.signal);
    this.#checkAlive('load');
    if (!existsSync(path)) throw new IoError(`weights file not found: ${path}`);
    const info = readWeightsInfo(path);
    const pp = info.preprocessing ? checkStoredPreprocessing(info.preprocessing, this, path) : null;
    // PyTorch files (and safetensors with old torchvision / DataParallel names) are converted to
    // safetensors bytes here; a safetensors file with torchvision's names is read by the core.
    const bytes = weightsBytesFor(path, info.format);
    const native = this.#native;
    await this.#enqueue('load', bytes ? async () => native.loadWeightsBytes(bytes, path) : () => native.load(path), signal);
    if (pp) this.#preprocessing = Object.freeze(pp);
  }

  /**
   * One SGD step in training mode (batch statistics, dropout, BN running stats updated once).
   *
   * @param images - NCHW float32 batch
   * @param shape - `[n, c, h, w]`
   * @param labels - `Int32Array` of length n, each in `[0, numClasses)`
   * @param options - signal; `distributed` for a data-parallel step under MPI
   * @returns the batch loss and number correct (of the global batch when distributed)
   * @throws {@link DTypeError}, {@link ShapeError}, {@link LabelError}, {@link NonFiniteError};
   *   {@link AbortError} when `signal` fires
   */
  async trainStep(images: Float32Array, shape: readonly number[], labels: Int32Array, options: TrainStepOptions = {}): Promise<TrainStepResult> {
    const signal = checkSignal(options.signal);
    const dims = validateBatch(images, shape, this.config.inChannels);
    validateLabels(labels, dims[0]!, this.config.numClasses);
    const dist = options.distributed;
    if (dist && (distributedWorld() === null || typeof this.#native.trainStepDistributed !== 'function')) {
      throw new InvalidArgumentError('a distributed trainStep needs a job of 2 or more processes under mpirun and the MPI variant of the addon (see distributedWorld)');
    }
    const run = dist
      ? () => this.#native.trainStepDistributed!(images, dims, labels, dist.syncBatchNorm === true)
      : () => this.#native.trainStep(images, dims, labels);
    const r = await this.#enqueue('trainStep', run, signal);
    return { loss: r.loss, correct: r.correct };
  }

  /**
   * Eval-mode loss, number correct and logits of a labelled batch.
   *
   * @param images - NCHW float32 batch
   * @param shape - `[n, c, h, w]`
   * @param labels - `Int32Array` of length n, each in `[0, numClasses)`
   * @param options - signal
   */
  async evalStep(images: Float32Array, shape: readonly number[], labels: Int32Array, options: CallOptions = {}): Promise<EvalStepResult> {
    const signal = checkSignal(options.signal);
    const dims = validateBatch(images, shape, this.config.inChannels);
    validateLabels(labels, dims[0]!, this.config.numClasses);
    const r = await this.#enqueue('evalStep', () => this.#native.evalStep(images, dims, labels), signal);
    return {
      loss: r.loss,
      correct: r.correct,
      prediction: new Prediction(r.logits, [dims[0]!, this.config.numClasses], this.#preprocessing?.classNames ?? null),
    };
  }

  /**
   * Sets the SGD optimizer (resets its momentum state). The native core validates the values
   * and fills the defaults of missing fields (lr 0.1, momentum 0.9, Nesterov, weight decay 1e-4).
   *
   * @param options - lr, momentum, nesterov, weightDecay
   * @throws {@link InvalidArgumentError} naming the field for a wrong type or an out-of-range value
   */
  setOptimizer(options: OptimizerOptions): void {
    this.#checkAlive('setOptimizer');
    const json = optimizerJson(options);
    callNative(() => this.#native.setOptimizer(json));
  }

  /**
   * Changes the learning rate of the current optimizer (keeps its momentum state).
   *
   * @param lr - a finite number >= 0 (checked by the native core)
   */
  setLearningRate(lr: number): void {
    this.#checkAlive('setLearningRate');
    if (typeof lr !== 'number' || !Number.isFinite(lr)) throw new InvalidArgumentError(`lr must be a finite number, got ${String(lr)}`);
    callNative(() => this.#native.setLearningRate(lr));
  }

  /** The current optimizer settings, as the native core reports them (`groups` only when there are some). */
  get optimizer(): Required<Omit<OptimizerOptions, 'groups'>> & Pick<OptimizerOptions, 'groups'> {
    this.#checkAlive('optimizer');
    return JSON.parse(callNative(() => this.#native.optimizerJson())) as Required<Omit<OptimizerOptions, 'groups'>> & Pick<OptimizerOptions, 'groups'>;
  }

  /**
   * Multiplies every parameter group's lr (the top level's too) by `factor` from the next step
   * on (default 1). A schedule sets `schedule(epoch) / schedule(0)`, which scales each group's lr
   * as PyTorch's schedulers do; {@link DenseNet.setLearningRate} keeps setting the top-level lr.
   * Saved in checkpoints.
   *
   * @param factor - a finite number >= 0
   */
  setLrFactor(factor: number): void {
    this.#checkAlive('setLrFactor');
    if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 0) throw new InvalidArgumentError(`lr factor must be a finite number >= 0, got ${String(factor)}`);
    callNative(() => this.#native.setLrFactor(factor));
  }

  /**
   * Freezes parameters: they get no gradient (no weight-gradient computation), no weight decay
   * and no momentum update, and their bits stay as they are. Backward stops at the lowest stage
   * that still trains, and the stages below it run forward as inference does. BNs whose weight
   * and bias are both frozen normalize as {@link DenseNet.frozenBatchNorm} says. Saved in checkpoints.
   *
   * @example
   * ```ts
   * model.freeze('features');            // train the classifier only
   * model.freeze(['stem', 'block1']);    // or the lowest stages
   * ```
   * @param specs - a {@link FreezeSpec} or a non-empty array of them
   * @throws {@link InvalidArgumentError} naming a spec that matches no parameter (nothing changes then)
   */
  freeze(specs: FreezeSpec | readonly FreezeSpec[]): void {
    this.#checkAlive('freeze');
    const json = specsJson('freeze', specs);
    callNative(() => this.#native.freeze(json));
  }

  /**
   * Makes frozen parameters trainable again (their momentum, if they had any, resumes).
   *
   * @param specs - a {@link FreezeSpec} or a non-empty array of them
   * @throws {@link InvalidArgumentError} naming a spec that matches no parameter
   */
  unfreeze(specs: FreezeSpec | readonly FreezeSpec[]): void {
    this.#checkAlive('unfreeze');
    const json = specsJson('unfreeze', specs);
    callNative(() => this.#native.unfreeze(json));
  }

  /** How BNs with frozen weight and bias normalize in training (`'eval'` by default, see {@link FrozenBatchNormMode}). */
  get frozenBatchNorm(): FrozenBatchNormMode {
    this.#checkAlive('frozenBatchNorm');
    return callNative(() => this.#native.frozenBatchNorm()) as FrozenBatchNormMode;
  }

  /**
   * Sets {@link DenseNet.frozenBatchNorm}.
   *
   * @param mode - `'eval'` | `'train'`
   */
  setFrozenBatchNorm(mode: FrozenBatchNormMode): void {
    this.#checkAlive('setFrozenBatchNorm');
    if (!FROZEN_BATCH_NORM_MODES.includes(mode)) throw new InvalidArgumentError(`frozenBatchNorm must be 'eval' or 'train', got ${String(mode)}`);
    callNative(() => this.#native.setFrozenBatchNorm(mode));
  }

  /** Every parameter tensor (torchvision names, no running statistics): shape, whether it trains, its optimizer group. */
  parameters(): ParameterInfo[] {
    this.#checkAlive('parameters');
    return JSON.parse(callNative(() => this.#native.parametersJson())) as ParameterInfo[];
  }

  /** Number of parameters (elements) that train: {@link DenseNet.parameterCount} less the frozen ones. */
  get trainableParameterCount(): number {
    this.#checkAlive('trainableParameterCount');
    return callNative(() => this.#native.trainableParamCount());
  }

  /**
   * Replaces the classifier by a new one for `numClasses` classes, initialized as a new model's
   * (from `seed`); every feature weight and BN statistic stays, {@link DenseNet.config}'s
   * numClasses changes and the classifier's momentum is dropped. The preprocessing's class names
   * become `classNames`, or are dropped when the count changes.
   *
   * @param numClasses - a positive integer
   * @param options - seed (default 0), classNames (`numClasses` names)
   * @throws {@link InvalidArgumentError} for a bad count, seed or class names
   */
  resetClassifier(numClasses: number, options: ResetClassifierOptions = {}): void {
    this.#checkAlive('resetClassifier');
    if (typeof numClasses !== 'number' || !Number.isSafeInteger(numClasses) || numClasses < 1) {
      throw new InvalidArgumentError(`numClasses must be a positive integer, got ${String(numClasses)}`);
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`resetClassifier options must be an object, got ${typeName(options)}`);
    const { seed = 0, classNames } = options;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError(`seed must be a non-negative integer, got ${String(seed)}`);
    if (classNames !== undefined && (!Array.isArray(classNames) || classNames.length !== numClasses || !classNames.every((n) => typeof n === 'string'))) {
      throw new InvalidArgumentError(`classNames must be ${numClasses} strings (one per class), got ${typeName(classNames)}${Array.isArray(classNames) ? ` of ${classNames.length}` : ''}`);
    }
    const countChanges = numClasses !== this.#config.numClasses;
    callNative(() => this.#native.resetClassifier(numClasses, seed));
    this.#config = Object.freeze({ ...this.#config, numClasses, blockConfig: [...this.#config.blockConfig] });
    const pp = this.#preprocessing;
    if (pp && (classNames || countChanges)) {
      const { classNames: _old, ...rest } = pp;
      this.#preprocessing = Object.freeze(classNames ? { ...rest, classNames: [...classNames] } : rest);
    }
  }

  /** Number of completed optimizer steps (restored by {@link DenseNet.loadCheckpoint}). */
  get step(): number {
    this.#checkAlive('step');
    return callNative(() => this.#native.step);
  }

  /**
   * Sets how many CPU threads this model uses.
   *
   * @param threads - a positive integer, or 0 for all cores
   */
  setThreads(threads: number): void {
    this.#checkAlive('setThreads');
    if (typeof threads !== 'number' || !Number.isSafeInteger(threads) || threads < 0) {
      throw new InvalidArgumentError(`threads must be a non-negative integer (0 = all cores), got ${String(threads)}`);
    }
    const n = threads === 0 ? availableParallelism() : threads;
    callNative(() => this.#native.setThreads(n));
  }

  /**
   * Peak memory in bytes of this model and one pass on an NCHW `shape`: parameters, gradients,
   * optimizer state, and the activations of a predict and of a training step in each memory mode.
   * Computed from the network's plan; nothing is allocated.
   *
   * @example
   * ```ts
   * const est = model.memoryEstimate([64, 3, 32, 32]);
   * console.log((est.parameters + est.gradients + est.optimizer + est.trainingEfficient) / 2 ** 20, 'MiB');
   * ```
   */
  memoryEstimate(shape: readonly number[]): MemoryEstimate {
    this.#checkAlive('memoryEstimate');
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ShapeError(`shape must be an array of non-negative integers [N, C, H, W], got ${JSON.stringify(shape)}`);
    }
    return JSON.parse(callNative(() => this.#native.memoryEstimate([...shape]))) as MemoryEstimate;
  }

  /**
   * Sets the memory budget in bytes: a predict or training step whose estimated peak (model
   * included) exceeds it is refused with a {@link MemoryError} before anything is allocated.
   * `null` (the default) uses the memory the machine has available at each call.
   */
  setMemoryBudget(bytes: number | null): void {
    this.#checkAlive('setMemoryBudget');
    if (bytes !== null && !(typeof bytes === 'number' && Number.isFinite(bytes) && bytes > 0)) {
      throw new InvalidArgumentError(`memory budget must be a positive number of bytes or null, got ${String(bytes)}`);
    }
    callNative(() => this.#native.setMemoryBudget(bytes));
  }

  /** The memory budget in bytes set by {@link DenseNet.setMemoryBudget}, or null (the machine's available memory). */
  get memoryBudget(): number | null {
    this.#checkAlive('memoryBudget');
    return callNative(() => this.#native.memoryBudget());
  }

  /** The training memory mode (`'efficient'` by default); assigning it calls {@link DenseNet.setMemoryMode}. */
  get memoryMode(): MemoryMode {
    return this.#memoryMode;
  }

  /** Switches the memory mode (same as {@link DenseNet.setMemoryMode}). */
  set memoryMode(mode: MemoryMode) {
    this.setMemoryMode(mode);
  }

  /**
   * Switches between the memory-efficient implementation and the naive one.
   *
   * @param mode - `'efficient'` | `'naive'`
   * @throws {@link InvalidArgumentError} for another value
   */
  setMemoryMode(mode: MemoryMode): void {
    this.#checkAlive('setMemoryMode');
    if (!MEMORY_MODES.includes(mode)) {
      throw new InvalidArgumentError(`memory mode must be one of ${MEMORY_MODES.join(', ')}, got ${String(mode)}`);
    }
    callNative(() => this.#native.setMemoryMode(mode));
    this.#memoryMode = mode;
  }

  /**
   * Writes a training checkpoint: weights, BN statistics, optimizer state and `extra`
   * (any JSON-serializable value: schedule position, RNG state, data order), atomically.
   *
   * @param path - destination file
   * @param extra - caller state stored alongside
   * @param options - signal
   */
  async saveCheckpoint(path: string, extra: unknown = null, options: CallOptions = {}): Promise<void> {
    checkPath('path', path);
    const signal = checkSignal(options.signal);
    let json: string | undefined;
    try {
      json = JSON.stringify(extra ?? null);
    } catch (e) {
      throw new InvalidArgumentError(`extra (the state saved with the checkpoint ${path}) cannot be written as JSON: ${(e as Error).message}`, { cause: e });
    }
    if (json === undefined) throw new InvalidArgumentError(`extra (the state saved with the checkpoint ${path}) must be JSON-serializable, got ${typeName(extra)}`);
    await this.#enqueue('saveCheckpoint', () => this.#native.saveCheckpoint(path, json), signal);
  }

  /**
   * Restores a checkpoint written by {@link DenseNet.saveCheckpoint}.
   *
   * @param path - checkpoint file
   * @param options - signal
   * @returns the `extra` value stored with it
   */
  async loadCheckpoint(path: string, options: CallOptions = {}): Promise<unknown> {
    checkPath('path', path);
    const signal = checkSignal(options.signal);
    this.#checkAlive('loadCheckpoint');
    if (!existsSync(path)) throw new IoError(`checkpoint file not found: ${path}`);
    const json = await this.#enqueue('loadCheckpoint', () => this.#native.loadCheckpoint(path), signal);
    return JSON.parse(json) as unknown;
  }

  /**
   * Frees the model's native memory (weights, optimizer state, buffers) as soon as the calls
   * already made on it have settled, without waiting for garbage collection. Every later call
   * throws (or rejects with) an {@link InvalidArgumentError} ("the model was disposed").
   * Calling it again returns the same promise.
   *
   * @example
   * ```ts
   * const model = DenseNet.create('densenet121');
   * try {
   *   console.log((await model.predictImages('cat.jpg')).topK(5));
   * } finally {
   *   await model.dispose();
   * }
   * ```
   *
   * @returns resolves once the native memory is freed
   */
  dispose(): Promise<void> {
    if (this.#disposed) return this.#disposed;
    this.#disposed = this.#tail.then(() => {
      this.#native.dispose();
    });
    return this.#disposed;
  }
}

function checkStoredPreprocessing(p: Preprocessing, model: DenseNet, path: string): Preprocessing {
  try {
    return checkPreprocessing(p, model);
  } catch (err) {
    throw new WeightsError(`${path}: its stored preprocessing does not fit this model: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The JSON of SGD options for the native core: checks only that each given field has the right
 * JavaScript type (naming it); values and defaults are the native core's.
 *
 * @param options - SGD options
 * @internal
 */
export function optimizerJson(options: OptimizerOptions): string {
  if (options !== null && typeof options === 'object' && !Array.isArray(options) && options.groups !== undefined) {
    const { groups, ...rest } = options;
    return JSON.stringify({ ...(JSON.parse(optimizerJson(rest)) as object), groups: checkParamGroups(groups) });
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`optimizer options must be an object, got ${typeName(options)}`);
  }
  const out: Record<string, number | boolean> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'nesterov') {
      if (typeof value !== 'boolean') throw new InvalidArgumentError(`nesterov must be a boolean, got ${String(value)}`);
    } else if (key === 'lr' || key === 'momentum' || key === 'weightDecay') {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidArgumentError(`${key} must be a finite number, got ${String(value)}`);
    } else {
      throw new InvalidArgumentError(`unknown optimizer option "${key}"; known: lr, momentum, nesterov, weightDecay, groups`);
    }
    out[key] = value as number | boolean;
  }
  return JSON.stringify(out);
}

/**
 * The classifier `DenseNet.load(path, config, { numClasses })` asks for: null without numClasses;
 * else the file's class count (read from its header; the model is created with it) and the head to
 * put in its place when that count differs.
 */
function newHead(path: string, options: LoadOptions): { fileClasses: number; numClasses: number; seed: number; classNames: string[] | undefined } | null {
  const { numClasses, classNames, headSeed = 0 } = options;
  if (numClasses === undefined) {
    if (classNames !== undefined || options.headSeed !== undefined) throw new InvalidArgumentError('classNames and headSeed of DenseNet.load go with numClasses');
    return null;
  }
  if (typeof numClasses !== 'number' || !Number.isSafeInteger(numClasses) || numClasses < 1) {
    throw new InvalidArgumentError(`numClasses must be a positive integer, got ${String(numClasses)}`);
  }
  if (typeof headSeed !== 'number' || !Number.isSafeInteger(headSeed) || headSeed < 0) throw new InvalidArgumentError(`headSeed must be a non-negative integer, got ${String(headSeed)}`);
  if (classNames !== undefined && (!Array.isArray(classNames) || classNames.length !== numClasses || !classNames.every((n) => typeof n === 'string'))) {
    throw new InvalidArgumentError(`classNames must be ${numClasses} strings (one per class), got ${typeName(classNames)}`);
  }
  const shape = readWeightsInfo(path).tensorShapes['classifier.weight'];
  // No classifier in the file: the native load names what is missing.
  const fileClasses = shape?.length === 2 && shape[0]! >= 1 ? shape[0]! : numClasses;
  return { fileClasses, numClasses, seed: headSeed, classNames };
}
