/**
 * The typed interface of the native addon (napi-rs, crates/densenet-node; the WASM build has the
 * same one): its exports and model class, the check that a loaded module has them, and calls into
 * it with typed errors. Loading it is `native.ts`.
 *
 * @module
 */
import { toDenseNetError, type NATIVE_ERROR_CODES } from './errors.js';

/**
 * Result of one training step, as returned by the native addon.
 *
 * @category Native addon
 */
export interface NativeStepResult {
  /** Mean cross-entropy loss of the batch. */
  loss: number;
  /** Number of samples whose arg-max logit equals the label. */
  correct: number;
}

/**
 * Result of one evaluation step, as returned by the native addon.
 *
 * @category Native addon
 */
export interface NativeEvalResult extends NativeStepResult {
  /** Logits, `N * numClasses`, row-major. */
  logits: Float32Array;
}

/**
 * The native model object (`NativeModel` of crates/densenet-node); see ts/native-api.md.
 * Every method throws (or rejects with) a JS `Error` whose `code` property is one of
 * {@link NATIVE_ERROR_CODES}.
 *
 * @category Native addon
 */
export interface NativeModel {
  /** Storage dtype of the weights: `'f32'` or `'f64'`. */
  readonly dtype: string;
  /** The normalized config as JSON. */
  configJson(): string;
  /** Number of trainable parameters (conv + BN affine + linear). */
  paramCount(): number;
  /** Per-stage table for an input of `height` x `width`, as JSON. */
  summaryJson(height: number, width: number): string;
  /** Eval-mode forward of an NCHW float32 batch; resolves to `N * numClasses` logits. */
  predict(input: Float32Array, shape: number[]): Promise<Float32Array>;
  /**
   * Writes the weights (safetensors, torchvision names) with the config under the header's
   * `__metadata__` key `densenet.config`, plus `metadataJson`: a JSON object of string → string
   * pairs stored next to it (the key `densenet.config` is reserved and rejected).
   */
  save(path: string, metadataJson?: string | null): Promise<void>;
  /** Reads weights written by `save` (or converted torchvision weights). */
  load(path: string): Promise<void>;
  /**
   * Loads safetensors weights from bytes; `sourceName` names them in errors. The native binding
   * resolves a promise (the work runs on the thread pool), the WASM build returns at once; the
   * SDK awaits either. `DenseNet.load` hands over PyTorch files converted to safetensors here.
   */
  loadWeightsBytes(bytes: Uint8Array, sourceName: string): Promise<void> | void;
  /** One optimizer step in train mode. */
  trainStep(input: Float32Array, shape: number[], labels: Int32Array): Promise<NativeStepResult>;
  /**
   * MPI variant only: one data-parallel step over MPI_COMM_WORLD on this rank's share of the
   * global batch; resolves to the global batch's loss and correct count.
   */
  trainStepDistributed?(input: Float32Array, shape: number[], labels: Int32Array, syncBn: boolean): Promise<NativeStepResult>;
  /** Eval-mode loss, accuracy and logits. */
  evalStep(input: Float32Array, shape: number[], labels: Int32Array): Promise<NativeEvalResult>;
  /** Sets the optimizer from JSON `{"lr","momentum","nesterov","weightDecay"}` (validated; missing fields take the defaults). */
  setOptimizer(optJson: string): void;
  /** Sets the learning rate of the current optimizer. */
  setLearningRate(lr: number): void;
  /** The current optimizer settings as JSON. */
  optimizerJson(): string;
  /**
   * Multiplies every parameter group's lr (the top level's too) by `factor` from the next step
   * on; a schedule sets `schedule(epoch) / schedule(0)` (PyTorch's schedulers scale each group so).
   */
  setLrFactor(factor: number): void;
  /** Freezes the parameters a JSON array of specs names (name prefixes or stage aliases). */
  freeze(specsJson: string): void;
  /** Makes the parameters a JSON array of specs names trainable again. */
  unfreeze(specsJson: string): void;
  /** How BNs with frozen affine parameters normalize in training: `'eval'` (default) or `'train'`. */
  setFrozenBatchNorm(mode: string): void;
  /** The mode set by {@link NativeModel.setFrozenBatchNorm}. */
  frozenBatchNorm(): string;
  /** JSON `[{name, shape, trainable, group}]` of every parameter tensor (no running statistics). */
  parametersJson(): string;
  /** Number of parameters (elements) that train. */
  trainableParamCount(): number;
  /** A new classifier for `numClasses` classes, initialized from `seed`; the features are kept. */
  resetClassifier(numClasses: number, seed: number): void;
  /** Number of CPU threads this model uses (>= 1). */
  setThreads(threads: number): void;
  /** Completed optimizer steps. */
  readonly step: number;
  /** `'efficient'` (default) or `'naive'`. */
  setMemoryMode(mode: string): void;
  /** Weights + BN statistics + optimizer state + caller JSON, written atomically. */
  saveCheckpoint(path: string, extraJson: string): Promise<void>;
  /** Restores a checkpoint; resolves to the caller JSON stored with it. */
  loadCheckpoint(path: string): Promise<string>;
  /**
   * Frees the native memory at once. Every later call — and every call queued but not yet
   * started — fails with code `ERR_INVALID_ARG`, message "the model was disposed".
   */
  dispose(): void;
  /** Peak bytes of the model and one pass on `shape` (JSON of {@link MemoryEstimate}). */
  memoryEstimate(shape: number[]): string;
  /** The memory budget in bytes, or null for the machine's available memory at each call. */
  setMemoryBudget(bytes: number | null): void;
  /** The budget set by {@link NativeModel.setMemoryBudget}, or null. */
  memoryBudget(): number | null;
}

/**
 * Peak memory in bytes, by what holds it (the native core's estimate from the plan). The activation
 * figures include the backend's own scratch where it is large: on a GPU the conv column buffer (up
 * to 256 MiB in f32, 512 MiB in f64) and the 32 MiB cuBLAS workspace.
 *
 * @category Model
 */
export interface MemoryEstimate {
  /** Parameters and BN running statistics. */
  parameters: number;
  /** Gradients (allocated by the first training step). */
  gradients: number;
  /** SGD momentum buffers. */
  optimizer: number;
  /** Peak activations of one predict (no training tape). */
  inference: number;
  /** Peak activations of one training step in the efficient memory mode. */
  trainingEfficient: number;
  /** Peak activations of one training step in the naive memory mode. */
  trainingNaive: number;
}

/**
 * Constructor of {@link NativeModel}.
 *
 * @category Native addon
 */
export interface NativeModelConstructor {
  /**
   * @param configJson - ModelConfig JSON; @param dtype - `'f32'` | `'f64'`; @param seed - init seed;
   * @param device - `'cpu'` (default), `'cuda'` or `'cuda:N'` (the CUDA build; else `ERR_DEVICE`)
   */
  new (configJson: string, dtype: string, seed: number, device?: string): NativeModel;
}

/**
 * The exports of the native addon (see ts/native-api.md).
 *
 * @category Native addon
 */
export interface NativeBinding {
  /** The model class. */
  NativeModel: NativeModelConstructor;
  /** JSON of a preset's config; throws `ERR_INVALID_CONFIG` for unknown names, listing the known ones. */
  presetConfig(name: string): string;
  /** Names of all presets. */
  presetNames(): string[];
  /** Validates a config JSON and fills defaults; throws `ERR_INVALID_CONFIG` naming the field. */
  normalizeConfig(json: string): string;
  /** Config JSON of a CIFAR DenseNet of the given depth (basic 3n+4, BC 6n+4); throws `ERR_INVALID_CONFIG` for another depth. */
  cifarConfig(depth: number, growthRate: number, bc: boolean, numClasses: number): string;
  /**
   * Validates SGD options JSON `{lr, momentum, nesterov, weightDecay}`, fills the defaults (the
   * reference recipe) and returns it normalized; throws `ERR_INVALID_ARG` naming the field.
   */
  normalizeOptimizer(json: string): string;
  /**
   * Learning rate of a schedule at a (fractional) epoch. Schedule JSON:
   * `{"type":"multiStep","lr":0.1,"milestones":[150,225],"gamma":0.1}` or
   * `{"type":"cosine","lr":0.1,"epochs":300}`; validated (`ERR_INVALID_ARG`).
   */
  scheduleLr(scheduleJson: string, epoch: number): number;
  /** The reference recipe's schedule for `epochs` epochs (lr ÷ 10 at 50% and 75%), as multiStep JSON. */
  referenceSchedule(lr: number, epochs: number): string;
  /** Sets the number of CPU threads of models created afterwards (0 = all cores). */
  setNumThreads(n: number): void;
  /** Peak bytes of a config on an NCHW shape in a dtype, as JSON of {@link MemoryEstimate}. */
  memoryEstimate(configJson: string, shape: number[], dtype: string): string;
  /**
   * The GPU check's NCCL smoke run (benches/gpu): on `device` ('cuda' | 'cuda:N'), NCCL
   * all-reduces known f32/f64 device buffers and host values in place in a world of one process.
   * `ERR_DEVICE` in the CPU build, without a GPU, or without libnccl.so.2 (naming it). Optional:
   * addons built before it lack it.
   */
  cudaNcclSmoke?(device: string): { ranks: number; sum: number; expected: number; ok: boolean; library: string; device: string };
  /** MPI variant only: initializes MPI once (thread level serialized); this process's rank and the world size. */
  mpiInit?(): { rank: number; size: number; library: string };
  /** MPI variant only: waits for every rank. */
  mpiBarrier?(): void;
  /** MPI variant only: element-wise sums over all ranks (the same result everywhere). */
  mpiAllReduceSum?(values: number[]): number[];
  /** MPI variant only: MPI_Finalize (idempotent). */
  mpiFinalize?(): void;
  /** MPI variant only: MPI_Abort on MPI_COMM_WORLD: ends every rank with `code`. */
  mpiAbort?(code: number): void;
}

const REQUIRED_EXPORTS = [
  'NativeModel',
  'presetConfig',
  'presetNames',
  'normalizeConfig',
  'cifarConfig',
  'normalizeOptimizer',
  'scheduleLr',
  'referenceSchedule',
  'setNumThreads',
  'memoryEstimate',
] as const;

/** Methods every `NativeModel` must have (an older addon lacks the fine-tuning ones). */
const REQUIRED_MODEL_METHODS = [
  'dispose',
  'setLrFactor',
  'freeze',
  'unfreeze',
  'setFrozenBatchNorm',
  'frozenBatchNorm',
  'parametersJson',
  'trainableParamCount',
  'resetClassifier',
] as const;

/** The extra exports of the MPI variant. */
const MPI_EXPORTS = ['mpiInit', 'mpiBarrier', 'mpiAllReduceSum', 'mpiFinalize', 'mpiAbort'] as const;

/**
 * Why `mod` is not a usable addon (missing exports or model methods), or `undefined` when it is.
 *
 * @param mpi - the MPI variant: its extra exports are required too
 * @internal
 */
export function checkExports(mod: unknown, mpi = false): string | undefined {
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return 'module has no exports';
  const required: readonly string[] = mpi ? [...REQUIRED_EXPORTS, ...MPI_EXPORTS] : REQUIRED_EXPORTS;
  const missing: string[] = required.filter((k) => typeof (mod as Record<string, unknown>)[k] !== 'function');
  if (mpi && missing.length) return `not the MPI variant of the addon (missing exports: ${missing.join(', ')})`;
  const proto = (mod as { NativeModel?: { prototype?: Record<string, unknown> } }).NativeModel?.prototype;
  if (proto) missing.push(...REQUIRED_MODEL_METHODS.filter((m) => typeof proto[m] !== 'function').map((m) => `NativeModel.prototype.${m}`));
  return missing.length ? `missing exports (an older build of the addon?): ${missing.join(', ')}` : undefined;
}

/**
 * Calls a synchronous native function, mapping its errors to typed SDK errors
 * (see {@link toDenseNetError}).
 *
 * @param fn - the call
 */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toDenseNetError(err);
  }
}

/**
 * Awaits an asynchronous native call, mapping its rejection (or a synchronous throw
 * before the promise exists) to typed SDK errors.
 *
 * @param fn - the call
 */
export async function callNativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toDenseNetError(err);
  }
}
