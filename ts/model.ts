/**
 * The {@link DenseNet} model class: create/load, predict, save and export. Its layers live in
 * `model/`: the properties and resource settings (`core.ts`), the training steps, optimizer,
 * fine-tuning and checkpoints (`training.ts`), the native call queue (`call-queue.ts`), the
 * prediction type, image decoding and the option types; argument checks are `internal/validate.ts`.
 *
 * Every method validates its arguments in TypeScript before calling the native core and
 * throws the typed errors of `errors.ts`. All heavy work runs on the native side off the
 * JS thread (the methods return Promises), so the event loop stays responsive. Calls on one
 * model are serialized: a second call waits for the first to finish.
 *
 * @module
 */
import { existsSync } from 'node:fs';

import { createConfig, type ConfigInput, type ModelConfig } from './config.js';
import { InvalidArgumentError, IoError, throwIfAborted } from './errors.js';
import { checkNonNegativeInt, checkOptionsObject, checkPath, checkSignal, validateBatch } from './internal/validate.js';
import { callNative, type NativeModel } from './native-binding.js';
import { loadNative } from './native.js';
import { exportDenseNetToOnnx } from './onnx/export.js';
import { resolveExportOptions, type ExportOnnxOptions, type OnnxExportInfo } from './onnx/options.js';
import { weightsBytesFor } from './weights/source.js';
import { readWeightsInfo } from './weights.js';
import type { ModelCallQueue } from './model/call-queue.js';
import { modelState } from './model/core.js';
import { predictionImageOptions, type PredictImagesOptions } from './model/image-preprocessing.js';
import { imagesToTensor } from './model/images.js';
import { checkStoredPreprocessing, newHead, saveMetadataJson, storedArchitecture } from './model/load-options.js';
import { Prediction } from './model/prediction.js';
import { TrainableModel } from './model/training.js';
import type { CallOptions, CreateOptions, DType, LoadOptions, SaveOptions } from './model/types.js';

// The names this module exported before its split, for the modules and tests that import them from here.
export { CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD, imagesToTensor, type ImageOptions, type ImageTensor, type ImagesToTensorOptions } from './model/images.js';
export type { PredictImagesOptions } from './model/image-preprocessing.js';
export { estimateMemory } from './model/memory.js';
export { optimizerJson } from './model/optimizer.js';
export { Prediction, type TopKEntry } from './model/prediction.js';
export {
  MEMORY_MODES,
  type CallOptions,
  type CreateOptions,
  type DType,
  type EvalStepResult,
  type LoadOptions,
  type MemoryMode,
  type ModelSummary,
  type OptimizerOptions,
  type SaveOptions,
  type Shape4,
  type StageSummary,
  type TrainStepOptions,
  type TrainStepResult,
} from './model/types.js';
export { validateBatch, validateLabels } from './internal/validate.js';

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
export class DenseNet extends TrainableModel {
  private constructor(native: NativeModel, config: ModelConfig, dtype: DType) {
    super(native, config, dtype);
  }

  /** The native call queue of this model. */
  get #calls(): ModelCallQueue {
    return modelState(this).calls;
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
    checkNonNegativeInt('seed', seed);
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
      config = storedArchitecture(path);
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
    const logits = await this.#calls.enqueue('predict', (native) => native.predict(input, dims), signal);
    return new Prediction(logits, [dims[0]!, this.config.numClasses], modelState(this).preprocessing?.classNames ?? null);
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
    this.#calls.checkAlive('predictImages');
    const list = typeof images === 'string' || images instanceof Uint8Array ? [images] : images;
    const imageOptions = predictionImageOptions(this.config, modelState(this).preprocessing, options);
    const tensor = await imagesToTensor(list, { ...imageOptions, ...(signal ? { signal } : {}) });
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
    checkOptionsObject('save', options);
    const signal = checkSignal(options.signal);
    const json = saveMetadataJson(options, modelState(this).preprocessing, this);
    await this.#calls.enqueue('save', (native) => native.save(path, json), signal);
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
    this.#calls.checkAlive('exportOnnx');
    throwIfAborted(signal, 'exportOnnx');
    const inputSize = resolved.inputSize ?? modelState(this).preprocessing?.inputSize ?? (this.config.smallInputs ? [32, 32] : [224, 224]);
    this.summary(inputSize[0], inputSize[1]); // throws a ShapeError when the input is too small for the network
    return exportDenseNetToOnnx(
      {
        config: this.config,
        preprocessing: modelState(this).preprocessing,
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
    this.#calls.checkAlive('load');
    if (!existsSync(path)) throw new IoError(`weights file not found: ${path}`);
    const info = readWeightsInfo(path);
    const pp = info.preprocessing ? checkStoredPreprocessing(info.preprocessing, this, path) : null;
    // PyTorch files (and safetensors with old torchvision / DataParallel names) are converted to
    // safetensors bytes here; a safetensors file with torchvision's names is read by the core.
    const bytes = weightsBytesFor(path, info.format);
    await this.#calls.enqueue('load', bytes ? async (native) => native.loadWeightsBytes(bytes, path) : (native) => native.load(path), signal);
    if (pp) modelState(this).preprocessing = Object.freeze(pp);
  }
}
