/**
 * The training layer of {@link DenseNet}: train and eval steps, the optimizer, fine-tuning
 * (freezing, parameter groups, a new classifier) and checkpoints.
 *
 * @internal
 * @module
 */
import { existsSync } from 'node:fs';

import { distributedWorld } from '../distributed.js';
import { InvalidArgumentError, IoError } from '../errors.js';
import {
  FROZEN_BATCH_NORM_MODES,
  checkResetClassifier,
  specsJson,
  type FreezeSpec,
  type FrozenBatchNormMode,
  type ParameterInfo,
  type ResetClassifierOptions,
} from '../finetune.js';
import type { NativeModel } from '../native-binding.js';
import { checkPath, checkSignal, typeName, validateBatch, validateLabels } from '../internal/validate.js';
import type { ModelCallQueue } from './call-queue.js';
import { ModelCore, modelState } from './core.js';
import { optimizerJson } from './optimizer.js';
import { Prediction } from './prediction.js';
import type { CallOptions, EvalStepResult, OptimizerOptions, TrainStepOptions, TrainStepResult } from './types.js';

/**
 * Training, fine-tuning and checkpoints of a model; see {@link DenseNet}.
 *
 * @internal
 */
export class TrainableModel extends ModelCore {
  /** The native call queue of this model. */
  get #calls(): ModelCallQueue {
    return modelState(this).calls;
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
    if (dist && (distributedWorld() === null || !this.#calls.sync('trainStep', (native) => typeof native.trainStepDistributed === 'function'))) {
      throw new InvalidArgumentError('a distributed trainStep needs a job of 2 or more processes under mpirun and the MPI variant of the addon (see distributedWorld)');
    }
    const run = dist
      ? (native: NativeModel) => native.trainStepDistributed!(images, dims, labels, dist.syncBatchNorm === true)
      : (native: NativeModel) => native.trainStep(images, dims, labels);
    const r = await this.#calls.enqueue('trainStep', run, signal);
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
    const r = await this.#calls.enqueue('evalStep', (native) => native.evalStep(images, dims, labels), signal);
    return {
      loss: r.loss,
      correct: r.correct,
      prediction: new Prediction(r.logits, [dims[0]!, this.config.numClasses], modelState(this).preprocessing?.classNames ?? null),
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
    this.#calls.checkAlive('setOptimizer');
    const json = optimizerJson(options);
    this.#calls.sync('setOptimizer', (native) => native.setOptimizer(json));
  }

  /**
   * Changes the learning rate of the current optimizer (keeps its momentum state).
   *
   * @param lr - a finite number >= 0 (checked by the native core)
   */
  setLearningRate(lr: number): void {
    this.#calls.checkAlive('setLearningRate');
    if (typeof lr !== 'number' || !Number.isFinite(lr)) throw new InvalidArgumentError(`lr must be a finite number, got ${String(lr)}`);
    this.#calls.sync('setLearningRate', (native) => native.setLearningRate(lr));
  }

  /** The current optimizer settings, as the native core reports them (`groups` only when there are some). */
  get optimizer(): Required<Omit<OptimizerOptions, 'groups'>> & Pick<OptimizerOptions, 'groups'> {
    return JSON.parse(this.#calls.sync('optimizer', (native) => native.optimizerJson())) as Required<Omit<OptimizerOptions, 'groups'>> & Pick<OptimizerOptions, 'groups'>;
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
    this.#calls.checkAlive('setLrFactor');
    if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 0) throw new InvalidArgumentError(`lr factor must be a finite number >= 0, got ${String(factor)}`);
    this.#calls.sync('setLrFactor', (native) => native.setLrFactor(factor));
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
    this.#calls.checkAlive('freeze');
    const json = specsJson('freeze', specs);
    this.#calls.sync('freeze', (native) => native.freeze(json));
  }

  /**
   * Makes frozen parameters trainable again (their momentum, if they had any, resumes).
   *
   * @param specs - a {@link FreezeSpec} or a non-empty array of them
   * @throws {@link InvalidArgumentError} naming a spec that matches no parameter
   */
  unfreeze(specs: FreezeSpec | readonly FreezeSpec[]): void {
    this.#calls.checkAlive('unfreeze');
    const json = specsJson('unfreeze', specs);
    this.#calls.sync('unfreeze', (native) => native.unfreeze(json));
  }

  /** How BNs with frozen weight and bias normalize in training (`'eval'` by default, see {@link FrozenBatchNormMode}). */
  get frozenBatchNorm(): FrozenBatchNormMode {
    return this.#calls.sync('frozenBatchNorm', (native) => native.frozenBatchNorm()) as FrozenBatchNormMode;
  }

  /**
   * Sets {@link DenseNet.frozenBatchNorm}.
   *
   * @param mode - `'eval'` | `'train'`
   */
  setFrozenBatchNorm(mode: FrozenBatchNormMode): void {
    this.#calls.checkAlive('setFrozenBatchNorm');
    if (!FROZEN_BATCH_NORM_MODES.includes(mode)) throw new InvalidArgumentError(`frozenBatchNorm must be 'eval' or 'train', got ${String(mode)}`);
    this.#calls.sync('setFrozenBatchNorm', (native) => native.setFrozenBatchNorm(mode));
  }

  /** Every parameter tensor (torchvision names, no running statistics): shape, whether it trains, its optimizer group. */
  parameters(): ParameterInfo[] {
    return JSON.parse(this.#calls.sync('parameters', (native) => native.parametersJson())) as ParameterInfo[];
  }

  /** Number of parameters (elements) that train: {@link DenseNet.parameterCount} less the frozen ones. */
  get trainableParameterCount(): number {
    return this.#calls.sync('trainableParameterCount', (native) => native.trainableParamCount());
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
    this.#calls.checkAlive('resetClassifier');
    const { seed, classNames } = checkResetClassifier(numClasses, options);
    const countChanges = numClasses !== modelState(this).config.numClasses;
    this.#calls.sync('resetClassifier', (native) => native.resetClassifier(numClasses, seed));
    modelState(this).config = Object.freeze({ ...modelState(this).config, numClasses, blockConfig: [...modelState(this).config.blockConfig] });
    const pp = modelState(this).preprocessing;
    if (pp && (classNames || countChanges)) {
      const { classNames: _old, ...rest } = pp;
      modelState(this).preprocessing = Object.freeze(classNames ? { ...rest, classNames: [...classNames] } : rest);
    }
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
    await this.#calls.enqueue('saveCheckpoint', (native) => native.saveCheckpoint(path, json), signal);
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
    this.#calls.checkAlive('loadCheckpoint');
    if (!existsSync(path)) throw new IoError(`checkpoint file not found: ${path}`);
    const json = await this.#calls.enqueue('loadCheckpoint', (native) => native.loadCheckpoint(path), signal);
    return JSON.parse(json) as unknown;
  }
}
