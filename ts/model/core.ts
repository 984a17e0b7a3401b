/**
 * The base layer of {@link DenseNet}: the model's state (its native call queue, config and
 * preprocessing), its properties and summary, threads, memory settings and `dispose`. The
 * training layer (`training.ts`) and the public class (`../model.ts`) build on it.
 *
 * @internal
 * @module
 */
import { availableParallelism } from 'node:os';

import type { ModelConfig } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { checkEstimateShape, checkPositiveInt, checkThreads } from '../internal/validate.js';
import type { MemoryEstimate, NativeModel } from '../native-binding.js';
import { checkPreprocessing, type Preprocessing } from '../weights.js';
import { ModelCallQueue } from './call-queue.js';
import { MEMORY_MODES, type DType, type MemoryMode, type ModelSummary } from './types.js';

/** What the layers of the model class share; kept out of the instance (no visible fields). */
export interface ModelState {
  readonly calls: ModelCallQueue;
  config: Readonly<ModelConfig>;
  preprocessing: Readonly<Preprocessing> | null;
}

const states = new WeakMap<ModelCore, ModelState>();

/** The state of `model`. */
export function modelState(model: ModelCore): ModelState {
  return states.get(model)!;
}

/**
 * Properties, summary and resource settings of a model; see {@link DenseNet}.
 *
 * @internal
 */
export class ModelCore {
  /** Weight precision on the native side. */
  readonly dtype: DType;
  #memoryMode: MemoryMode = 'efficient';

  protected constructor(native: NativeModel, config: ModelConfig, dtype: DType) {
    states.set(this, {
      calls: new ModelCallQueue(native),
      config: Object.freeze({ ...config, blockConfig: [...config.blockConfig] }),
      preprocessing: null,
    });
    this.dtype = dtype;
  }

  /** The native call queue of this model. */
  get #calls(): ModelCallQueue {
    return modelState(this).calls;
  }

  /** The normalized configuration of this model (its numClasses changes with {@link DenseNet.resetClassifier}). */
  get config(): Readonly<ModelConfig> {
    return modelState(this).config;
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
    return modelState(this).preprocessing;
  }

  /**
   * Sets (or with `null` clears) the model's {@link DenseNet.preprocessing}.
   *
   * @param preprocessing - channels must equal `inChannels`; classNames (optional) must have `numClasses` names
   * @throws {@link InvalidArgumentError} naming the field
   */
  setPreprocessing(preprocessing: Preprocessing | null): void {
    modelState(this).preprocessing = preprocessing === null ? null : Object.freeze(checkPreprocessing(preprocessing, this));
  }

  /** Whether {@link DenseNet.dispose} was called. */
  get disposed(): boolean {
    return this.#calls.disposed;
  }

  /** Number of trainable parameters (conv weights + BN affine + linear), as counted by the native core. */
  get parameterCount(): number {
    return this.#calls.sync('parameterCount', (native) => native.paramCount());
  }

  /**
   * The per-stage table of the network for an input of `height` x `width` (the paper's Table 1).
   *
   * @param height - input height (default 32 for `smallInputs`, else 224)
   * @param width - input width (default: `height`)
   */
  summary(height?: number, width?: number): ModelSummary {
    this.#calls.checkAlive('summary');
    const h = checkPositiveInt('height', height ?? (this.config.smallInputs ? 32 : 224));
    const w = checkPositiveInt('width', width ?? h);
    const raw = JSON.parse(this.#calls.sync('summary', (native) => native.summaryJson(h, w))) as {
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

  /** Number of completed optimizer steps (restored by {@link DenseNet.loadCheckpoint}). */
  get step(): number {
    return this.#calls.sync('step', (native) => native.step);
  }

  /**
   * Sets how many CPU threads this model uses.
   *
   * @param threads - a positive integer, or 0 for all cores
   */
  setThreads(threads: number): void {
    this.#calls.checkAlive('setThreads');
    checkThreads(threads);
    const n = threads === 0 ? availableParallelism() : threads;
    this.#calls.sync('setThreads', (native) => native.setThreads(n));
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
    this.#calls.checkAlive('memoryEstimate');
    checkEstimateShape(shape);
    return JSON.parse(this.#calls.sync('memoryEstimate', (native) => native.memoryEstimate([...shape]))) as MemoryEstimate;
  }

  /**
   * Sets the memory budget in bytes: a predict or training step whose estimated peak (model
   * included) exceeds it is refused with a {@link MemoryError} before anything is allocated.
   * `null` (the default) uses the memory the machine has available at each call.
   */
  setMemoryBudget(bytes: number | null): void {
    this.#calls.checkAlive('setMemoryBudget');
    if (bytes !== null && !(typeof bytes === 'number' && Number.isFinite(bytes) && bytes > 0)) {
      throw new InvalidArgumentError(`memory budget must be a positive number of bytes or null, got ${String(bytes)}`);
    }
    this.#calls.sync('setMemoryBudget', (native) => native.setMemoryBudget(bytes));
  }

  /** The memory budget in bytes set by {@link DenseNet.setMemoryBudget}, or null (the machine's available memory). */
  get memoryBudget(): number | null {
    return this.#calls.sync('memoryBudget', (native) => native.memoryBudget());
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
    this.#calls.checkAlive('setMemoryMode');
    if (!MEMORY_MODES.includes(mode)) {
      throw new InvalidArgumentError(`memory mode must be one of ${MEMORY_MODES.join(', ')}, got ${String(mode)}`);
    }
    this.#calls.sync('setMemoryMode', (native) => native.setMemoryMode(mode));
    this.#memoryMode = mode;
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
    return this.#calls.dispose();
  }
}
