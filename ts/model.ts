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

import sharp, { type OutputInfo } from 'sharp';

import { createConfig, type ConfigInput, type ModelConfig } from './config.js';
import {
  DTypeError,
  ImageError,
  InvalidArgumentError,
  IoError,
  LabelError,
  NonFiniteError,
  ShapeError,
} from './errors.js';
import { callNative, callNativeAsync, loadNative, type NativeModel } from './native.js';

/** Storage precision of the weights on the native side. Inputs and logits are always float32. */
export type DType = 'f32' | 'f64';

/**
 * Training memory layout. `'efficient'` (default): shared feature/gradient storage and
 * recomputation, memory linear in depth. `'naive'`: stores every concatenation (for comparison).
 */
export type MemoryMode = 'efficient' | 'naive';

/** The memory modes, in the order the native core documents them. */
export const MEMORY_MODES: readonly MemoryMode[] = ['efficient', 'naive'];

/** Options of {@link DenseNet.create} and {@link DenseNet.load}. */
export interface CreateOptions {
  /** Weight precision (default `'f32'`). */
  dtype?: DType;
  /** Seed of the weight initialization (default 0); the same seed gives the same weights. */
  seed?: number;
  /** Load the CUDA build of the native addon (default: `DENSENET_CUDA=1` in the environment). */
  cuda?: boolean;
}

/** An NCHW batch shape `[n, c, h, w]`. */
export type Shape4 = readonly [n: number, c: number, h: number, w: number];

/** One row of a summary: a stage of the network (like a row of the paper's Table 1). */
export interface StageSummary {
  /** Stage name as the native core reports it, e.g. `Dense Block (1)`. */
  name: string;
  /** Output shape `[C, H, W]` of the stage for the summarized input size. */
  outputShape: [channels: number, height: number, width: number];
  /** Parameters in this stage. */
  params: number;
}

/** Result of {@link DenseNet.summary}. */
export interface ModelSummary {
  /** Input `[height, width]` the table was computed for. */
  inputSize: [height: number, width: number];
  /** One row per stage, in forward order. */
  stages: StageSummary[];
  /** Total number of parameters (equals {@link DenseNet.parameterCount}). */
  total: number;
}

/** One entry of {@link Prediction.topK}. */
export interface TopKEntry {
  /** Class index in `[0, numClasses)`. */
  index: number;
  /** Raw logit of the class. */
  logit: number;
  /** Softmax probability of the class. */
  probability: number;
}

/** Logits of a batch, with helpers to read them. */
export class Prediction {
  /** Row-major logits, `shape[0] * shape[1]` values. */
  readonly logits: Float32Array;
  /** `[n, classes]`. */
  readonly shape: [n: number, classes: number];

  /**
   * @param logits - row-major logits
   * @param shape - `[n, classes]`; `n * classes` must equal `logits.length`
   */
  constructor(logits: Float32Array, shape: readonly [number, number]) {
    if (!(logits instanceof Float32Array)) throw new DTypeError(`logits must be a Float32Array, got ${typeName(logits)}`);
    if (shape.length !== 2 || shape[0] * shape[1] !== logits.length) {
      throw new ShapeError(`logits of length ${logits.length} do not fit shape [${shape.join(', ')}]`);
    }
    this.logits = logits;
    this.shape = [shape[0], shape[1]];
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
    const result: TopKEntry[][] = [];
    for (let i = 0; i < n; i++) {
      const idx = Array.from({ length: classes }, (_, j) => j);
      idx.sort((a, b) => this.logits[i * classes + b]! - this.logits[i * classes + a]! || a - b);
      result.push(
        idx.slice(0, Math.min(k, classes)).map((j) => ({
          index: j,
          logit: this.logits[i * classes + j]!,
          probability: probs[i * classes + j]!,
        })),
      );
    }
    return result;
  }
}

/** Result of {@link DenseNet.trainStep}. */
export interface TrainStepResult {
  /** Mean cross-entropy loss of the batch (before the update). */
  loss: number;
  /** Number of samples classified correctly (before the update). */
  correct: number;
}

/** Result of {@link DenseNet.evalStep}. */
export interface EvalStepResult extends TrainStepResult {
  /** Eval-mode logits of the batch, `[n, classes]`. */
  prediction: Prediction;
}

/** SGD settings of {@link DenseNet.setOptimizer}. Defaults are the paper's CIFAR recipe. */
export interface OptimizerOptions {
  /** Learning rate, >= 0. */
  lr: number;
  /** Momentum in [0, 1) (default 0.9). */
  momentum?: number;
  /** Nesterov momentum (default `true`). */
  nesterov?: boolean;
  /** L2 weight decay, >= 0 (default 1e-4). */
  weightDecay?: number;
}

/** Image preprocessing of {@link DenseNet.predictImages} and {@link imagesToTensor}. */
export interface ImageOptions {
  /** Side of the square center crop fed to the network (default 32 for `smallInputs` models, else 224). */
  size?: number;
  /** Length of the shorter side after resizing, before the center crop (default `size`; torchvision's ImageNet eval uses 256 for 224). */
  resize?: number;
  /** Per-channel mean subtracted after scaling pixels to [0, 1] (default: CIFAR or ImageNet mean for 3 channels, 0 otherwise). */
  mean?: readonly number[];
  /** Per-channel std divided by (default: CIFAR or ImageNet std for 3 channels, 1 otherwise). */
  std?: readonly number[];
  /** Channels to decode to: 3 (RGB) or 1 (grayscale). {@link DenseNet.predictImages} uses the model's `inChannels`. */
  channels?: number;
}

/** A decoded, normalized batch of images. */
export interface ImageTensor {
  /** NCHW float32 data. */
  data: Float32Array;
  /** `[n, c, size, size]`. */
  shape: [n: number, c: number, h: number, w: number];
}

/** ImageNet per-channel mean (RGB), used by torchvision's pretrained DenseNets. */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
/** ImageNet per-channel std (RGB). */
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];
/** CIFAR-10 per-channel mean (RGB) of the reference training code. */
export const CIFAR_MEAN: readonly number[] = [0.49139968, 0.48215841, 0.44653091];
/** CIFAR-10 per-channel std (RGB) of the reference training code. */
export const CIFAR_STD: readonly number[] = [0.24703223, 0.24348513, 0.26158784];

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a plain Array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function checkPositiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
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

/**
 * Decodes images with sharp into one normalized NCHW float32 batch: EXIF orientation applied,
 * alpha dropped, converted to RGB (or grayscale), the shorter side resized to `resize`
 * (default `size`), a center crop of `size` x `size`, pixels scaled to [0, 1], then
 * `(x - mean) / std` per channel.
 *
 * @param images - file paths or encoded image buffers (PNG, JPEG, WebP, ...)
 * @param options - size, resize, mean, std, channels (defaults: 224, ImageNet statistics, 3 channels)
 * @throws {@link IoError} for a missing file; {@link ImageError} for an undecodable image
 */
export async function imagesToTensor(
  images: readonly (string | Uint8Array)[],
  options: ImageOptions = {},
): Promise<ImageTensor> {
  if (!Array.isArray(images) || images.length === 0) {
    throw new InvalidArgumentError('images must be a non-empty array of file paths or Buffers');
  }
  const size = checkPositiveInt('size', options.size ?? 224);
  const resize = checkPositiveInt('resize', options.resize ?? size);
  if (resize < size) throw new InvalidArgumentError(`resize (${resize}) must be >= size (${size})`);
  const c = options.channels ?? 3;
  if (c !== 1 && c !== 3) throw new InvalidArgumentError(`channels must be 1 or 3, got ${String(c)}`);
  const mean = channelStats('mean', options.mean, c === 3 ? IMAGENET_MEAN : [0], c);
  const std = channelStats('std', options.std, c === 3 ? IMAGENET_STD : [1], c);

  const plane = size * size;
  const data = new Float32Array(images.length * c * plane);
  for (let n = 0; n < images.length; n++) {
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
      let pipe = sharp(src, { failOn: 'error' }).rotate().removeAlpha();
      pipe = c === 3 ? pipe.toColourspace('srgb') : pipe.toColourspace('b-w');
      ({ data: pixels, info } = await pipe
        .resize({ width: resize, height: resize, fit: 'outside' })
        .raw()
        .toBuffer({ resolveWithObject: true }));
    } catch (err) {
      throw new ImageError(`cannot decode image ${label}: ${(err as Error).message}`, { cause: err });
    }
    const { width, height, channels } = info;
    if (width < size || height < size || channels < c) {
      throw new ImageError(`image ${label} decoded to ${width}x${height}x${channels}, expected at least ${size}x${size}x${c}`);
    }
    const x0 = Math.round((width - size) / 2);
    const y0 = Math.round((height - size) / 2);
    const base = n * c * plane;
    for (let ch = 0; ch < c; ch++) {
      const m = mean[ch]!;
      const s = std[ch]!;
      const out = base + ch * plane;
      for (let y = 0; y < size; y++) {
        const row = ((y0 + y) * width + x0) * channels + ch;
        for (let x = 0; x < size; x++) {
          data[out + y * size + x] = (pixels[row + x * channels]! / 255 - m) / s;
        }
      }
    }
  }
  return { data, shape: [images.length, c, size, size] };
}

/**
 * A DenseNet (Huang et al., CVPR 2017) whose weights live in the native core.
 *
 * @example
 * ```ts
 * const model = DenseNet.create('densenet-bc-100', { seed: 1 });
 * const out = await model.predict(new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32]);
 * console.log(out.topK(5));
 * ```
 */
export class DenseNet {
  /** The normalized configuration of this model. */
  readonly config: Readonly<ModelConfig>;
  /** Weight precision on the native side. */
  readonly dtype: DType;
  readonly #native: NativeModel;
  #memoryMode: MemoryMode = 'efficient';
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(native: NativeModel, config: ModelConfig, dtype: DType) {
    this.#native = native;
    this.config = Object.freeze({ ...config, blockConfig: [...config.blockConfig] });
    this.dtype = dtype;
  }

  /**
   * Creates a freshly initialized model (conv weights ~ N(0, 2/(out·kh·kw)), BN weight 1 / bias 0,
   * linear bias 0).
   *
   * @param presetOrConfig - a preset name or a (partial) config, see {@link createConfig}
   * @param options - dtype (default `'f32'`), seed (default 0), cuda
   * @throws {@link ConfigError} for an invalid config; {@link InvalidArgumentError} for bad options
   */
  static create(presetOrConfig: ConfigInput, options: CreateOptions = {}): DenseNet {
    const { dtype = 'f32', seed = 0, cuda } = options;
    if (dtype !== 'f32' && dtype !== 'f64') throw new InvalidArgumentError(`dtype must be 'f32' or 'f64', got ${String(dtype)}`);
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
      throw new InvalidArgumentError(`seed must be a non-negative integer, got ${String(seed)}`);
    }
    const binding = loadNative(cuda === undefined ? {} : { cuda });
    const config = createConfig(presetOrConfig);
    const native = callNative(() => new binding.NativeModel(JSON.stringify(config), dtype, seed));
    const normalized = JSON.parse(callNative(() => native.configJson())) as ModelConfig;
    return new DenseNet(native, normalized, dtype);
  }

  /**
   * Creates a model of the given architecture and loads weights from a safetensors file
   * (as written by {@link DenseNet.save}, or torchvision weights converted to safetensors).
   *
   * @param path - the weights file
   * @param presetOrConfig - the architecture the weights belong to
   * @param options - dtype, cuda
   * @throws {@link IoError} when the file cannot be read; {@link WeightsError} when it does not fit the architecture
   */
  static async load(path: string, presetOrConfig: ConfigInput, options: CreateOptions = {}): Promise<DenseNet> {
    checkPath('path', path);
    const model = DenseNet.create(presetOrConfig, options);
    await model.load(path);
    return model;
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(() => callNativeAsync(fn));
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Number of output classes. */
  get numClasses(): number {
    return this.config.numClasses;
  }

  /** Number of input channels. */
  get inChannels(): number {
    return this.config.inChannels;
  }

  /** Number of trainable parameters (conv weights + BN affine + linear), as counted by the native core. */
  get parameterCount(): number {
    return callNative(() => this.#native.paramCount());
  }

  /**
   * The per-stage table of the network for an input of `height` x `width` (the paper's Table 1).
   *
   * @param height - input height (default 32 for `smallInputs`, else 224)
   * @param width - input width (default: `height`)
   */
  summary(height?: number, width?: number): ModelSummary {
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
   * @returns the logits, `[n, numClasses]`
   * @throws {@link DTypeError}, {@link ShapeError}, {@link NonFiniteError} for bad input (the promise rejects)
   */
  async predict(input: Float32Array, shape: readonly number[]): Promise<Prediction> {
    const dims = validateBatch(input, shape, this.config.inChannels);
    const logits = await this.#enqueue(() => this.#native.predict(input, dims));
    return new Prediction(logits, [dims[0]!, this.config.numClasses]);
  }

  /**
   * Decodes, resizes/center-crops and normalizes images with sharp (see {@link imagesToTensor}),
   * then runs {@link DenseNet.predict}. Defaults: size 32 and CIFAR statistics for `smallInputs`
   * models, size 224 and ImageNet statistics otherwise; the model's `inChannels`.
   *
   * @param images - file paths or encoded image buffers
   * @param options - size, resize, mean, std
   */
  async predictImages(images: readonly (string | Uint8Array)[] | string | Uint8Array, options: ImageOptions = {}): Promise<Prediction> {
    const list = typeof images === 'string' || images instanceof Uint8Array ? [images] : images;
    const small = this.config.smallInputs;
    const c = this.config.inChannels;
    if (c !== 1 && c !== 3) throw new InvalidArgumentError(`predictImages supports 1 or 3 input channels, the model has ${c}`);
    const tensor = await imagesToTensor(list, {
      size: options.size ?? (small ? 32 : 224),
      ...(options.resize !== undefined ? { resize: options.resize } : {}),
      mean: options.mean ?? (c === 3 ? (small ? CIFAR_MEAN : IMAGENET_MEAN) : [0]),
      std: options.std ?? (c === 3 ? (small ? CIFAR_STD : IMAGENET_STD) : [1]),
      channels: c,
    });
    return this.predict(tensor.data, tensor.shape);
  }

  /**
   * Writes the weights and BN statistics to a safetensors file with torchvision's names.
   *
   * @param path - destination file
   * @throws {@link IoError} when the file cannot be written
   */
  async save(path: string): Promise<void> {
    checkPath('path', path);
    await this.#enqueue(() => this.#native.save(path));
  }

  /**
   * Replaces the weights with those of a safetensors file (torchvision names; the CIFAR
   * reference code's `norm_final` alias is accepted).
   *
   * @param path - source file
   * @throws {@link IoError} when it cannot be read; {@link WeightsError} when it does not fit this architecture
   */
  async load(path: string): Promise<void> {
    checkPath('path', path);
    if (!existsSync(path)) throw new IoError(`weights file not found: ${path}`);
    await this.#enqueue(() => this.#native.load(path));
  }

  /**
   * One SGD step in training mode (batch statistics, dropout, BN running stats updated once).
   *
   * @param images - NCHW float32 batch
   * @param shape - `[n, c, h, w]`
   * @param labels - `Int32Array` of length n, each in `[0, numClasses)`
   * @returns the batch loss and number correct
   * @throws {@link DTypeError}, {@link ShapeError}, {@link LabelError}, {@link NonFiniteError}
   */
  async trainStep(images: Float32Array, shape: readonly number[], labels: Int32Array): Promise<TrainStepResult> {
    const dims = validateBatch(images, shape, this.config.inChannels);
    validateLabels(labels, dims[0]!, this.config.numClasses);
    const r = await this.#enqueue(() => this.#native.trainStep(images, dims, labels));
    return { loss: r.loss, correct: r.correct };
  }

  /**
   * Eval-mode loss, number correct and logits of a labelled batch.
   *
   * @param images - NCHW float32 batch
   * @param shape - `[n, c, h, w]`
   * @param labels - `Int32Array` of length n, each in `[0, numClasses)`
   */
  async evalStep(images: Float32Array, shape: readonly number[], labels: Int32Array): Promise<EvalStepResult> {
    const dims = validateBatch(images, shape, this.config.inChannels);
    validateLabels(labels, dims[0]!, this.config.numClasses);
    const r = await this.#enqueue(() => this.#native.evalStep(images, dims, labels));
    return { loss: r.loss, correct: r.correct, prediction: new Prediction(r.logits, [dims[0]!, this.config.numClasses]) };
  }

  /**
   * Sets the SGD optimizer (resets its momentum state).
   *
   * @param options - lr, momentum (0.9), nesterov (true), weightDecay (1e-4)
   * @throws {@link InvalidArgumentError} for out-of-range values
   */
  setOptimizer(options: OptimizerOptions): void {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('optimizer options must be an object');
    const { lr, momentum = 0.9, nesterov = true, weightDecay = 1e-4 } = options;
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new InvalidArgumentError(`lr must be a finite number >= 0, got ${String(lr)}`);
    if (typeof momentum !== 'number' || !(momentum >= 0 && momentum < 1)) {
      throw new InvalidArgumentError(`momentum must be in [0, 1), got ${String(momentum)}`);
    }
    if (typeof nesterov !== 'boolean') throw new InvalidArgumentError(`nesterov must be a boolean, got ${String(nesterov)}`);
    if (nesterov && momentum === 0) throw new InvalidArgumentError('nesterov requires momentum > 0');
    if (typeof weightDecay !== 'number' || !Number.isFinite(weightDecay) || weightDecay < 0) {
      throw new InvalidArgumentError(`weightDecay must be a finite number >= 0, got ${String(weightDecay)}`);
    }
    const json = JSON.stringify({ lr, momentum, nesterov, weightDecay });
    callNative(() => this.#native.setOptimizer(json));
  }

  /**
   * Changes the learning rate of the current optimizer (keeps its momentum state).
   *
   * @param lr - a finite number >= 0
   */
  setLearningRate(lr: number): void {
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new InvalidArgumentError(`lr must be a finite number >= 0, got ${String(lr)}`);
    callNative(() => this.#native.setLearningRate(lr));
  }

  /** The current optimizer settings, as the native core reports them. */
  get optimizer(): Required<OptimizerOptions> {
    return JSON.parse(callNative(() => this.#native.optimizerJson())) as Required<OptimizerOptions>;
  }

  /** Number of completed optimizer steps (restored by {@link DenseNet.loadCheckpoint}). */
  get step(): number {
    return callNative(() => this.#native.step);
  }

  /**
   * Sets how many CPU threads this model uses.
   *
   * @param threads - a positive integer, or 0 for all cores
   */
  setThreads(threads: number): void {
    if (typeof threads !== 'number' || !Number.isSafeInteger(threads) || threads < 0) {
      throw new InvalidArgumentError(`threads must be a non-negative integer (0 = all cores), got ${String(threads)}`);
    }
    callNative(() => this.#native.setThreads(threads));
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
   */
  async saveCheckpoint(path: string, extra: unknown = null): Promise<void> {
    checkPath('path', path);
    const json = JSON.stringify(extra ?? null);
    await this.#enqueue(() => this.#native.saveCheckpoint(path, json));
  }

  /**
   * Restores a checkpoint written by {@link DenseNet.saveCheckpoint}.
   *
   * @param path - checkpoint file
   * @returns the `extra` value stored with it
   */
  async loadCheckpoint(path: string): Promise<unknown> {
    checkPath('path', path);
    if (!existsSync(path)) throw new IoError(`checkpoint file not found: ${path}`);
    const json = await this.#enqueue(() => this.#native.loadCheckpoint(path));
    return JSON.parse(json) as unknown;
  }
}
