/**
 * The option and result types of the {@link DenseNet} methods.
 *
 * @module
 */
import type { ParamGroupOptions } from '../finetune.js';
import type { BackendChoice } from '../native.js';
import type { Preprocessing } from '../weights.js';
import type { Prediction } from './prediction.js';

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
