/**
 * The training loop: the paper's recipe, per-epoch `results.csv`, best-on-validation model,
 * checkpoints every epoch (and on abort) that resume bit for bit, typed events, and a measure of
 * how much of each step waits for data.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';

import { AbortError, InvalidArgumentError, isAbortError, WeightsError } from '../errors.js';
import { roundLr, roundMetric, roundRate, roundSeconds, roundShare } from '../internal/round.js';
import { allReduceSum, barrier, distributedWorld, setSettled } from '../distributed.js';
import type { DenseNet } from '../model.js';
import { readWeightsInfo, type Preprocessing } from '../weights.js';
import { DataLoader, splitTrainValidation, type Batch, type LoaderSource, type LoaderState, type Normalization } from '../data/index.js';
import { evaluate, type EvaluationResult } from './evaluate.js';
import { makeDirectory, writeJsonAtomicAsync, writeResultsCsvAsync, type EpochRecord } from './io.js';
import { learningRateAt, resolveRecipe, type RecipeOptions, type TrainRecipe } from './options.js';

/**
 * The best epoch on the validation set so far.
 *
 * @category Training
 */
export interface BestRecord {
  /** 1-based epoch. */
  epoch: number;
  /** Validation loss at that epoch (`null` when there is no validation set: then the last epoch counts as best). */
  validLoss: number | null;
  /** Validation top-1 error at that epoch. */
  validError: number | null;
  /** Test top-1 error of the model of that epoch (the weights in `best.safetensors`); `null` without a test set. */
  testError: number | null;
}

/**
 * Emitted once before the first batch.
 *
 * @category Training
 */
export interface StartEvent {
  /** Discriminator. */
  type: 'start';
  /** The resolved recipe. */
  recipe: TrainRecipe;
  /** Images trained on per epoch (after the validation hold-out). */
  trainSize: number;
  /** Validation images (0: none). */
  validationSize: number;
  /** Test images (0: none). */
  testSize: number;
  /** Batches per epoch. */
  batchesPerEpoch: number;
  /** 0-based epoch where training starts (0 unless resumed). */
  startEpoch: number;
  /** 0-based batch of `startEpoch` where training starts (0 unless resumed mid-epoch). */
  startBatch: number;
  /** Whether a checkpoint was restored. */
  resumed: boolean;
  /** The output directory. */
  outDir: string;
}

/**
 * Emitted after every training step.
 *
 * @category Training
 */
export interface BatchEvent {
  /** Discriminator. */
  type: 'batch';
  /** 1-based epoch. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** 1-based batch within the epoch. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Images in this batch. */
  size: number;
  /** Loss of this batch (train mode, before the update). */
  loss: number;
  /** Error of this batch (fraction). */
  error: number;
  /** Mean loss of the epoch so far. */
  epochLoss: number;
  /** Error of the epoch so far. */
  epochError: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Completed optimizer steps (the model's step counter). */
  step: number;
  /** Milliseconds waiting for this batch from the loader. */
  dataMs: number;
  /** Milliseconds of the training step. */
  stepMs: number;
  /** Training throughput of the epoch so far (images per second, data wait included). */
  imagesPerSecond: number;
  /** Estimated seconds until the end of training (evaluation included). */
  etaSeconds: number;
}

/**
 * Emitted after each epoch's evaluation and checkpoint.
 *
 * @category Training
 */
export interface EpochEvent {
  /** Discriminator. */
  type: 'epoch';
  /** The epoch's results (the row of `results.csv`). */
  record: EpochRecord;
  /** Total epochs. */
  epochs: number;
  /** Learning rate at the start of the epoch. */
  lr: number;
  /** Seconds of training in this epoch (including time spent before an interruption). */
  trainSeconds: number;
  /** Seconds of evaluation (validation + test). */
  evalSeconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
  /** Time waiting for data, as a share of the time of the training steps plus that wait (goal: < 0.05). */
  dataShare: number;
  /** Whether this epoch is the new best on validation (`best.safetensors` was written). */
  isBest: boolean;
  /** The best epoch so far. */
  best: BestRecord | null;
  /** Estimated seconds until the end of training. */
  etaSeconds: number;
}

/**
 * Emitted after a checkpoint was written.
 *
 * @category Training
 */
export interface CheckpointEvent {
  /** Discriminator. */
  type: 'checkpoint';
  /** The checkpoint file. */
  path: string;
  /** Why: end of an epoch, or an abort. */
  reason: 'epoch' | 'abort';
  /** 0-based epoch of the next training step. */
  epoch: number;
  /** Index of the next batch in `epoch` (= batches per epoch: the epoch is trained, its evaluation pending). */
  batch: number;
}

/**
 * Emitted for a non-fatal problem (e.g. an option that differs from the checkpoint's).
 *
 * @category Training
 */
export interface WarningEvent {
  /** Discriminator. */
  type: 'warning';
  /** What happened. */
  message: string;
}

/**
 * Emitted while the validation and test sets are evaluated.
 *
 * @category Training
 */
export interface EvaluateEvent {
  /** Discriminator. */
  type: 'evaluate';
  /** 1-based epoch. */
  epoch: number;
  /** Which set. */
  set: 'validation' | 'test';
  /** Images done. */
  done: number;
  /** Images in the set. */
  total: number;
}

/**
 * Emitted once at the end (also after an abort).
 *
 * @category Training
 */
export interface EndEvent {
  /** Discriminator. */
  type: 'end';
  /** The result {@link train} resolves to. */
  result: TrainResult;
}

/**
 * Emitted when the parameters of `freeze` train again (`unfreezeAt`), before that epoch's first batch.
 *
 * @category Training
 */
export interface UnfreezeEvent {
  /** Discriminator. */
  type: 'unfreeze';
  /** 0-based epoch that starts with them trainable. */
  epoch: number;
  /** The specs unfrozen. */
  specs: string[];
  /** {@link DenseNet.trainableParameterCount} from now on. */
  trainableParameters: number;
}

/**
 * Every event of {@link train}, discriminated by `type`.
 *
 * @category Training
 */
export type TrainEvent = StartEvent | BatchEvent | EvaluateEvent | EpochEvent | CheckpointEvent | WarningEvent | UnfreezeEvent | EndEvent;

/**
 * Paths of the files {@link train} writes in `outDir`.
 *
 * @category Training
 */
export interface TrainPaths {
  /** `results.csv`: `epoch,train_loss,train_error,valid_loss,valid_error,test_error`, one row per epoch. */
  results: string;
  /** `best.safetensors`: weights of the epoch with the lowest validation error. */
  best: string;
  /** `checkpoint.safetensors`: weights, BN statistics, optimizer state, schedule and loader position. */
  checkpoint: string;
  /** `final.safetensors`: weights after the last epoch (written when training completes). */
  final: string;
  /** `summary.json`: the {@link TrainResult} and the recipe (written when training ends or aborts). */
  summary: string;
}

/**
 * The {@link AbortError} {@link train} rejects with when its `signal` fires: training stopped
 * cleanly at a batch boundary (or between evaluation batches), and a resumable checkpoint,
 * `results.csv` and `summary.json` were written first. Like every abort of the SDK it has
 * `name === 'AbortError'` and `code === 'ABORT_ERR'` (and `instanceof AbortError`); `cause` is the
 * signal's reason. Its properties say where training stopped and how to continue: call
 * {@link train} again with the same options and `resume: true` (`densenet train --resume --out DIR`).
 *
 * @example
 * ```ts
 * try {
 *   await train(model, { trainSet, outDir: 'runs/c10', signal });
 * } catch (err) {
 *   if (!(err instanceof TrainAbortError)) throw err;
 *   console.log(`stopped after ${err.result.epochsCompleted} epochs; checkpoint ${err.checkpoint}`);
 * }
 * ```
 *
 * @category Errors
 */
export class TrainAbortError extends AbortError {
  /** The checkpoint written when training stopped (`outDir/checkpoint.safetensors`). */
  readonly checkpoint: string;
  /** Where training resumes (the checkpoint's schedule position). */
  readonly position: {
    /** The 0-based epoch being trained. */
    readonly epoch: number;
    /** The index of its next batch (= batches per epoch: the epoch is trained, its evaluation pending). */
    readonly batch: number;
  };
  /** What {@link train} would have resolved to at this point (`aborted: true`): records, best epoch, times, paths. */
  readonly result: TrainResult;

  /**
   * @param result - the results up to the stop
   * @param position - where training resumes
   * @param options - optional cause (the signal's reason)
   */
  constructor(result: TrainResult, position: { epoch: number; batch: number }, options?: { cause?: unknown }) {
    super(
      `training was aborted in epoch ${position.epoch + 1} of ${result.epochs} (after ${result.epochsCompleted} complete ` +
        `epoch${result.epochsCompleted === 1 ? '' : 's'}); checkpoint ${result.paths.checkpoint} (continue with resume: true)`,
      options,
    );
    this.name = 'AbortError';
    this.checkpoint = result.paths.checkpoint;
    this.position = { epoch: position.epoch, batch: position.batch };
    this.result = result;
  }
}

/**
 * What {@link train} resolves to.
 *
 * @category Training
 */
export interface TrainResult {
  /**
   * `false` when {@link train} resolves; `true` in the result a {@link TrainAbortError} carries (and
   * in `summary.json` and the `end` event of a stopped run).
   */
  aborted: boolean;
  /** Epochs completed (evaluated and logged). */
  epochsCompleted: number;
  /** Total epochs of the recipe. */
  epochs: number;
  /** Every epoch's results (the rows of `results.csv`). */
  records: EpochRecord[];
  /** The best epoch on validation (without a validation set: the last epoch). */
  best: BestRecord | null;
  /** Test error of the best model (the weights in `best.safetensors`); `null` without a test set or before the first epoch. */
  testError: number | null;
  /** Seconds of this call (training + evaluation). */
  seconds: number;
  /**
   * Seconds of the whole run: this call plus, for a resumed run, the earlier sessions up to their
   * last checkpoint (a session killed without one loses the time since its last epoch).
   */
  totalSeconds: number;
  /** Training images per second over this call. */
  imagesPerSecond: number;
  /** Time waiting for data as a share of (data wait + training steps) over this call. */
  dataShare: number;
  /** The resolved recipe. */
  recipe: TrainRecipe;
  /** The files written. */
  paths: TrainPaths;
}

/**
 * Options of {@link train}: the data, the output directory and the recipe (defaults: the reference).
 *
 * @category Training
 */
export interface TrainOptions extends RecipeOptions {
  /** Training images. Unless `validationSet` is given, `validationSize` of them are held out for validation. */
  trainSet: LoaderSource;
  /** Validation images (default: held out of `trainSet`, see `validationSize`). */
  validationSet?: LoaderSource | null;
  /** Test images, evaluated after every epoch (optional). */
  testSet?: LoaderSource | null;
  /** Where `results.csv`, `best.safetensors`, `checkpoint.safetensors`, `final.safetensors` and `summary.json` go (created if missing). */
  outDir: string;
  /**
   * Continue from `outDir/checkpoint.safetensors` when it exists (else start fresh, with a warning event).
   * The continuation is bit-identical to an uninterrupted run. A string names another checkpoint file.
   */
  resume?: boolean | string;
  /**
   * Stops training after the current batch (or evaluation batch), writes a checkpoint and rejects
   * with a {@link TrainAbortError} (an {@link AbortError}) that names it. A signal that has already
   * fired stops before the first batch, also with a checkpoint.
   */
  signal?: AbortSignal;
  /** Every event (see {@link TrainEvent}); may return a promise, which is awaited. */
  onEvent?: (event: TrainEvent) => void | Promise<void>;
  /** Called after every training step. */
  onBatch?: (event: BatchEvent) => void | Promise<void>;
  /** Called after every epoch. */
  onEpoch?: (event: EpochEvent) => void | Promise<void>;
  /** CPU threads of the model (default: unchanged; under MPI: the node's cores divided by its ranks). */
  threads?: number;
  /** Batches the loader prepares ahead (default 2). */
  prefetch?: number;
  /** Write a checkpoint every this many epochs (default 1; aborts always write one). */
  checkpointEvery?: number;
  /**
   * Under MPI (`mpirun -np N`, see {@link distributedWorld}): batch-norm statistics over the global
   * batch instead of each rank's share (default `false`: BN per replica). Ignored outside MPI.
   */
  syncBatchNorm?: boolean;
}

/**
 * The caller JSON stored in every training checkpoint (`extra` of {@link DenseNet.saveCheckpoint}).
 *
 * @category Training
 */
export interface TrainCheckpointState {
  /** Marks the JSON as a training checkpoint of this SDK. */
  kind: 'densenet-sdk/train';
  /** Format version of this JSON. */
  version: 1;
  /** Schedule position: 0-based epoch and the index of its next batch (= batches per epoch: evaluation pending). */
  position: {
    /** 0-based epoch being trained. */
    epoch: number;
    /** Index of the epoch's next batch. */
    batch: number;
  };
  /** The data loader's state (seed, epoch, batch) — the order and augmentation of the next batches. */
  loader: LoaderState;
  /** Sums of the current epoch so far, so that its logged train loss/error match an uninterrupted run. */
  partial: EpochPartial;
  /** Rows of `results.csv` so far. */
  records: EpochRecord[];
  /** Best epoch on validation so far. */
  best: BestRecord | null;
  /** The recipe (options) of the run. */
  recipe: TrainRecipe;
  /** Wall time of the run up to this checkpoint, over all its sessions (absent in checkpoints of older versions). */
  elapsedSeconds?: number;
  /** Processes of the data-parallel job that wrote it (absent: 1). */
  worldSize?: number;
  /** Data set sizes (train, validation, test), to refuse resuming on other data. */
  sizes: {
    /** Images in the training set (validation excluded). */
    train: number;
    /** Images held out for validation. */
    validation: number;
    /** Images in the test set. */
    test: number;
  };
}

/**
 * Running sums of one epoch.
 *
 * @category Training
 */
export interface EpochPartial {
  /** Sum of batch loss × batch size. */
  lossSum: number;
  /** Images classified correctly. */
  correct: number;
  /** Images trained on. */
  seen: number;
  /** Batches trained. */
  batches: number;
  /** Milliseconds waiting for data. */
  dataMs: number;
  /** Milliseconds of training steps. */
  stepMs: number;
}

/**
 * The {@link Preprocessing} a model trained on `ds` with `normalization` expects: the images'
 * size and channels, the normalization (none: mean 0, std 1), the evaluation resize of an image
 * folder, and the class names when the data set has one per model class. `null` for images that
 * are neither grayscale nor RGB.
 *
 * @param ds - the training images
 * @param normalization - the recipe's normalization
 * @param numClasses - the model's classes
 *
 * @category Training
 */
export function trainingPreprocessing(ds: LoaderSource, normalization: Normalization | null, numClasses: number): Preprocessing | null {
  const c = ds.channels;
  if (c !== 1 && c !== 3) return null;
  const p: Preprocessing = {
    inputSize: [ds.height, ds.width],
    channels: c,
    mean: normalization ? [...normalization.mean] : Array<number>(c).fill(0),
    std: normalization ? [...normalization.std] : Array<number>(c).fill(1),
  };
  if ('kind' in ds && ds.kind === 'image-folder') p.resize = ds.evalResize;
  if (ds.classNames && ds.classNames.length === numClasses) p.classNames = [...ds.classNames];
  return p;
}

const zeroPartial = (): EpochPartial => ({ lossSum: 0, correct: 0, seen: 0, batches: 0, dataMs: 0, stepMs: 0 });

/**
 * The files of a training run in `outDir`.
 *
 * @category Training
 */
export function trainPaths(outDir: string): TrainPaths {
  const d = resolve(outDir);
  return {
    results: join(d, 'results.csv'),
    best: join(d, 'best.safetensors'),
    checkpoint: join(d, 'checkpoint.safetensors'),
    final: join(d, 'final.safetensors'),
    summary: join(d, 'summary.json'),
  };
}

function isCheckpointState(x: unknown): x is TrainCheckpointState {
  const s = x as TrainCheckpointState;
  return !!s && s.kind === 'densenet-sdk/train' && s.version === 1 && !!s.position && !!s.recipe && Array.isArray(s.records);
}

/** The caller's state stored in a checkpoint's header (`densenet.extra`), read without loading it. */
function readCheckpointState(path: string): unknown {
  const text = readWeightsInfo(path).metadata['densenet.extra'];
  if (text === undefined) throw new WeightsError(`${path}: not a checkpoint (metadata 'densenet.extra' missing)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new WeightsError(`${path}: metadata 'densenet.extra' (the state saved with the checkpoint) is not JSON: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Trains `model` with the DenseNet paper's recipe (defaults: SGD with Nesterov momentum 0.9, weight
 * decay 1e-4, batch 64, lr 0.1 ÷ 10 at 50% and 75% of 300 epochs, 5,000 training images held out for
 * validation, random crop + flip).
 *
 * After every epoch it evaluates the validation set and (if given) the test set with the current
 * weights, appends a row to `results.csv` (`test_error` is the **current** model's), writes
 * `best.safetensors` when the validation error is the lowest so far (ties: the earlier epoch), and a
 * checkpoint. The result's `testError` is the test error of the best model.
 *
 * The weights files store the preprocessing the model was trained with (input size, channels,
 * normalization, class names; see {@link trainingPreprocessing}), so that `DenseNet.load` +
 * `predictImages` and `densenet predict` need no preprocessing options; `train` also sets it as
 * the model's `preprocessing`.
 *
 * @example
 * ```ts
 * const full = await loadDataset('cifar10', { root: 'data' });
 * const test = await loadDataset('cifar10', { root: 'data', split: 'test' });
 * const model = DenseNet.create('densenet-bc-100', { seed: 1 });
 * const ac = new AbortController();
 * const r = await train(model, { trainSet: full, testSet: test, outDir: 'runs/bc100', signal: ac.signal,
 *   onEpoch: (e) => console.log(e.record) });
 * console.log(r.best, r.testError);
 * ```
 *
 * Cancelling: when `options.signal` fires, training stops at the next batch boundary, writes a
 * checkpoint and rejects with a {@link TrainAbortError} (`name` `'AbortError'`, `code`
 * `'ABORT_ERR'`) that carries the checkpoint path, the position and the results so far; call
 * `train` again with `resume: true` to continue, bit for bit.
 *
 * @param model - the model (its optimizer is set from the recipe, or restored from the checkpoint)
 * @param options - data, output directory, recipe, resume, signal, callbacks
 * @throws {@link InvalidArgumentError} for bad options or a checkpoint of another run
 * @throws {@link TrainAbortError} when the signal stopped training (after writing the checkpoint)
 *
 * @category Training
 */
export async function train(model: DenseNet, options: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('train options must be an object');
  const { trainSet: fullTrain, signal } = options;
  if (!fullTrain || typeof fullTrain.length !== 'number') throw new InvalidArgumentError('trainSet must be a data set');
  if (typeof options.outDir !== 'string' || options.outDir === '') throw new InvalidArgumentError('outDir must be a non-empty string');
  const checkpointEvery = options.checkpointEvery ?? 1;
  if (!Number.isSafeInteger(checkpointEvery) || checkpointEvery < 1) {
    throw new InvalidArgumentError(`checkpointEvery must be a positive integer, got ${String(checkpointEvery)}`);
  }
  for (const [name, ds] of [['trainSet', fullTrain], ['validationSet', options.validationSet], ['testSet', options.testSet]] as const) {
    if (!ds) continue;
    if (ds.channels !== model.inChannels) {
      throw new InvalidArgumentError(`${name} has ${ds.channels} channels but the model expects ${model.inChannels}`);
    }
    if (ds.numClasses > model.numClasses) {
      throw new InvalidArgumentError(`${name} has ${ds.numClasses} classes but the model only ${model.numClasses}`);
    }
  }

  const recipe = resolveRecipe(options, fullTrain, !!options.validationSet);
  // Without paramGroups the model's own groups (set with setOptimizer) are kept and recorded.
  if (options.paramGroups === undefined) recipe.paramGroups = model.optimizer.groups ?? [];
  let trainSet: LoaderSource = fullTrain;
  let validationSet: LoaderSource | null = options.validationSet ?? null;
  if (!validationSet && recipe.validationSize > 0) {
    // Overloads of splitTrainValidation: one per data set kind.
    const split = splitTrainValidation(fullTrain as never, { validationSize: recipe.validationSize, seed: recipe.seed }) as {
      train: LoaderSource;
      validation: LoaderSource;
    };
    trainSet = split.train;
    validationSet = split.validation;
  }
  const testSet = options.testSet ?? null;
  const preprocessing = trainingPreprocessing(fullTrain, recipe.normalization, model.numClasses);
  model.setPreprocessing(preprocessing);
  const sizes = { train: trainSet.length, validation: validationSet?.length ?? 0, test: testSet?.length ?? 0 };
  // Data-parallel under MPI: rank 0 writes every file and emits the events; each rank trains on
  // its share of every (global) batch; by default the cores of a node are split between its ranks.
  const world = distributedWorld();
  const lead = !world || world.rank === 0;
  setSettled(false);
  const worldSize = world?.size ?? 1;
  if (options.threads !== undefined) model.setThreads(options.threads);
  else if (world) model.setThreads(Math.max(1, Math.floor(availableParallelism() / world.localSize)));
  const stepOptions = world ? { distributed: { syncBatchNorm: options.syncBatchNorm === true } } : {};
  if (world && recipe.batchSize < world.size) {
    throw new InvalidArgumentError(`batchSize ${recipe.batchSize} is the global batch under MPI and must be at least the number of processes (${world.size})`);
  }
  const evalShard = world ? { shard: { rank: world.rank, size: world.size } } : {};
  const combineEvaluations = (r: EvaluationResult): EvaluationResult => {
    const [lossSum, correct, correctTop5, images] = allReduceSum([r.loss * r.images || 0, r.correct, r.correctTop5, r.images]) as [number, number, number, number];
    return { ...r, images, loss: lossSum / images, top1Error: 1 - correct / images, top5Error: 1 - correctTop5 / images, correct, correctTop5 };
  };
  const agree = (flag: boolean): boolean => (world ? allReduceSum([flag ? 1 : 0])[0]! > 0 : flag);

  const outDir = resolve(options.outDir);
  const paths = trainPaths(outDir);
  const ckptPath = typeof options.resume === 'string' ? resolve(options.resume) : paths.checkpoint;
  const resuming = !!options.resume && existsSync(ckptPath);
  // A fresh start freezes and sets the optimizer before any file is written: a freeze spec or
  // group prefix that names no parameter is refused with nothing created.
  if (!resuming && !options.resume) startOptimizer(model, recipe);
  if (lead) makeDirectory(outDir);
  const writeResults = async (rows: EpochRecord[]): Promise<void> => {
    if (lead) await writeResultsCsvAsync(paths.results, rows);
  };

  const emit = async (e: TrainEvent): Promise<void> => {
    if (!lead) return;
    if (e.type === 'batch' && options.onBatch) await options.onBatch(e);
    if (e.type === 'epoch' && options.onEpoch) await options.onEpoch(e);
    if (options.onEvent) await options.onEvent(e);
  };

  const loader = new DataLoader(trainSet, {
    batchSize: recipe.batchSize,
    shuffle: true,
    seed: recipe.seed,
    augment: recipe.augment,
    normalization: recipe.normalization,
    dropLast: recipe.dropLast,
    prefetch: options.prefetch ?? 2,
    ...(world ? { shard: { rank: world.rank, size: world.size } } : {}),
  });
  const nb = loader.batchesPerEpoch;

  // ---- resume or start fresh ----
  let records: EpochRecord[] = [];
  let best: BestRecord | null = null;
  let pos = { epoch: 0, batch: 0 };
  let partial = zeroPartial();
  let resumed = false;
  let priorSeconds = 0;
  const warnings: string[] = [];
  if (resuming) {
    // Every check on the training state comes before the model is touched: a resume that is
    // refused leaves the model as it was. The state is read from the file's header here; the
    // native load below validates the rest and replaces weights and optimizer all at once.
    const extra = readCheckpointState(ckptPath);
    if (!isCheckpointState(extra)) {
      throw new InvalidArgumentError(`${ckptPath} is not a training checkpoint of densenet-sdk (no training state in it)`);
    }
    // Checkpoints written before fine-tuning existed hold no freeze, unfreezeAt or paramGroups.
    const stored = extra.recipe as Omit<TrainRecipe, 'freeze' | 'unfreezeAt' | 'paramGroups'> & Partial<TrainRecipe>;
    const old: TrainRecipe = { ...stored, freeze: stored.freeze ?? [], unfreezeAt: stored.unfreezeAt ?? null, paramGroups: stored.paramGroups ?? [] };
    for (const key of ['batchSize', 'seed', 'validationSize', 'dropLast'] as const) {
      if (old[key] !== recipe[key]) {
        throw new InvalidArgumentError(
          `cannot resume ${ckptPath}: it was trained with ${key} ${JSON.stringify(old[key])}, now ${JSON.stringify(recipe[key])}; use the same value or another output directory`,
        );
      }
    }
    const savedWorld = extra.worldSize ?? 1;
    if (savedWorld !== worldSize) {
      // The batch is global and the order depends only on the seed: the same batches, resharded.
      warnings.push(
        `resuming a run of ${savedWorld} process${savedWorld === 1 ? '' : 'es'} on ${worldSize}: the same global batches, resharded` +
          (options.syncBatchNorm || worldSize === 1 ? '' : ' (BN per replica now normalizes over each share of the new size)'),
      );
    }
    for (const key of ['train', 'validation', 'test'] as const) {
      if (extra.sizes[key] !== sizes[key]) {
        throw new InvalidArgumentError(
          `cannot resume ${ckptPath}: its ${key} set had ${extra.sizes[key]} images, this one has ${sizes[key]}; use the same data or another output directory`,
        );
      }
    }
    for (const key of Object.keys(recipe) as (keyof TrainRecipe)[]) {
      if (JSON.stringify(old[key]) !== JSON.stringify(recipe[key])) {
        warnings.push(`resuming with ${key} ${JSON.stringify(recipe[key])} (the checkpoint used ${JSON.stringify(old[key])})`);
      }
    }
    await model.loadCheckpoint(ckptPath);
    if (old.momentum !== recipe.momentum || old.nesterov !== recipe.nesterov || old.weightDecay !== recipe.weightDecay) {
      // The native optimizer keeps its settings in the checkpoint; new ones mean a new optimizer (momentum buffers reset).
      model.setOptimizer({
        lr: learningRateAt(recipe, extra.position.epoch),
        momentum: recipe.momentum,
        nesterov: recipe.nesterov,
        weightDecay: recipe.weightDecay,
        groups: model.optimizer.groups ?? [],
      });
      warnings.push('the optimizer settings changed: its momentum buffers start from zero');
    }
    records = extra.records;
    best = extra.best;
    pos = extra.position;
    partial = extra.partial ?? zeroPartial();
    priorSeconds = typeof extra.elapsedSeconds === 'number' && extra.elapsedSeconds >= 0 ? extra.elapsedSeconds : 0;
    resumed = true;
    // Rows written after the checkpoint (if the process died in between) are dropped: they will be recomputed identically.
    await writeResults(records);
  } else {
    if (options.resume) {
      // Never a silent fresh start: the caller asked to continue a run that is not there.
      throw new InvalidArgumentError(`resume: there is no training run to resume (no checkpoint at ${ckptPath}); start without resume`);
    }
    await writeResults(records);
  }

  await emit({
    type: 'start',
    recipe,
    trainSize: sizes.train,
    validationSize: sizes.validation,
    testSize: sizes.test,
    batchesPerEpoch: nb,
    startEpoch: pos.epoch,
    startBatch: pos.batch,
    resumed,
    outDir,
  });
  for (const message of warnings) await emit({ type: 'warning', message });

  // ---- timing for ETA and the data share ----
  let totalData = 0;
  let totalStep = 0;
  let totalImages = 0;
  let totalTrainMs = 0;
  let lastEvalMs = 0;
  let msPerBatch = 0; // running estimate

  const saveCheckpoint = async (reason: 'epoch' | 'abort', epoch: number, batch: number, p: EpochPartial): Promise<void> => {
    const state: TrainCheckpointState = {
      kind: 'densenet-sdk/train',
      version: 1,
      position: { epoch, batch },
      loader: { seed: recipe.seed, epoch, batch },
      partial: p,
      records,
      best,
      recipe,
      elapsedSeconds: priorSeconds + (performance.now() - t0) / 1000,
      ...(world ? { worldSize } : {}),
      sizes,
    };
    if (!lead) return;
    await model.saveCheckpoint(paths.checkpoint, state);
    await emit({ type: 'checkpoint', path: paths.checkpoint, reason, epoch, batch });
  };

  /** Writes summary.json and emits `end`; resolves to the result, or (aborted) rejects with TrainAbortError. */
  const finish = async (abortedAt: { epoch: number; batch: number } | null): Promise<TrainResult> => {
    const last = records[records.length - 1];
    const noValidation = sizes.validation === 0;
    const bestRec = noValidation && last ? { epoch: last.epoch, validLoss: null, validError: null, testError: last.testError } : best;
    const seconds = (performance.now() - t0) / 1000;
    const result: TrainResult = {
      aborted: abortedAt !== null,
      epochsCompleted: records.length,
      epochs: recipe.epochs,
      records,
      best: bestRec,
      testError: bestRec?.testError ?? null,
      seconds,
      totalSeconds: priorSeconds + seconds,
      imagesPerSecond: totalTrainMs > 0 ? (totalImages * 1000) / totalTrainMs : 0,
      dataShare: totalData + totalStep > 0 ? totalData / (totalData + totalStep) : 0,
      recipe,
      paths,
    };
    if (lead) await writeJsonAtomicAsync(paths.summary, summaryJson(result, sizes));
    await emit({ type: 'end', result });
    // Nobody leaves before rank 0 has written its files: a rank exiting with an error code (130
    // after an abort) takes the whole job down (MPI_Abort).
    if (world) {
      barrier();
      setSettled(true);
    }
    if (abortedAt) throw new TrainAbortError(result, abortedAt, abortErrorCause(signal));
    return result;
  };

  const eta = (epoch: number, batchDone: number): number => {
    const batchesLeft = (recipe.epochs - epoch) * nb - batchDone;
    const evalsLeft = recipe.epochs - epoch;
    return (batchesLeft * msPerBatch + evalsLeft * lastEvalMs) / 1000;
  };

  for (let epoch = pos.epoch; epoch < recipe.epochs; epoch++) {
    const startBatch = epoch === pos.epoch ? pos.batch : 0;
    const p = epoch === pos.epoch ? partial : zeroPartial();
    const epochLr = learningRateAt(recipe, epoch);
    if (agree(signal?.aborted === true)) {
      await saveCheckpoint('abort', epoch, startBatch, p);
      return finish({ epoch, batch: startBatch });
    }
    if (recipe.unfreezeAt === epoch && startBatch === 0) {
      // Gradual unfreezing (idempotent: a run resumed at this epoch's start may have done it).
      model.unfreeze(recipe.freeze);
      await emit({ type: 'unfreeze', epoch, specs: [...recipe.freeze], trainableParameters: model.trainableParameterCount });
    }
    // ---- training ----
    const epochT0 = performance.now();
    const msBefore = p.dataMs + p.stepMs;
    if (startBatch < nb) {
      loader.restore({ seed: recipe.seed, epoch, batch: startBatch });
      applyLearningRate(model, recipe, epochLr);
      const it = loader[Symbol.asyncIterator]();
      let tWait = performance.now();
      for (;;) {
        const next = await it.next();
        if (next.done) break;
        const b: Batch = next.value;
        const tGot = performance.now();
        const n = b.globalSize ?? b.labels.length;
        if (n < worldSize) {
          // A last batch smaller than the job would leave a rank without images: every rank skips it.
          tWait = performance.now();
          continue;
        }
        const lr = recipe.schedule === 'cosine' ? learningRateAt(recipe, epoch + b.index / nb) : epochLr;
        if (recipe.schedule === 'cosine') applyLearningRate(model, recipe, lr);
        const r = await model.trainStep(b.images, b.shape, b.labels, stepOptions);
        const tDone = performance.now();
        const dataMs = tGot - tWait;
        const stepMs = tDone - tGot;
        p.lossSum += r.loss * n;
        p.correct += r.correct;
        p.seen += n;
        p.batches += 1;
        p.dataMs += dataMs;
        p.stepMs += stepMs;
        totalData += dataMs;
        totalStep += stepMs;
        totalImages += n;
        totalTrainMs += dataMs + stepMs;
        msPerBatch = msPerBatch === 0 ? dataMs + stepMs : 0.95 * msPerBatch + 0.05 * (dataMs + stepMs);
        await emit({
          type: 'batch',
          epoch: epoch + 1,
          epochs: recipe.epochs,
          batch: b.index + 1,
          batches: nb,
          size: n,
          loss: r.loss,
          error: 1 - r.correct / n,
          epochLoss: p.lossSum / p.seen,
          epochError: 1 - p.correct / p.seen,
          lr,
          step: model.step,
          dataMs,
          stepMs,
          imagesPerSecond: (p.seen * 1000) / Math.max(1e-9, p.dataMs + p.stepMs),
          etaSeconds: eta(epoch, b.index + 1),
        });
        if (agree(signal?.aborted === true)) {
          await it.return?.();
          await saveCheckpoint('abort', epoch, b.index + 1, p);
          return finish({ epoch, batch: b.index + 1 });
        }
        tWait = performance.now();
      }
    }
    const trainMs = performance.now() - epochT0;
    // ---- evaluation ----
    const evalT0 = performance.now();
    let valid: EvaluationResult | null = null;
    let test: EvaluationResult | null = null;
    try {
      if (validationSet) {
        valid = await evaluate(model, validationSet, {
          batchSize: recipe.evalBatchSize,
          ...evalShard,
          normalization: recipe.normalization,
          ...(signal && !world ? { signal } : {}), // under MPI the ranks agree on a stop between batches
          onProgress: (done, total) => void emit({ type: 'evaluate', epoch: epoch + 1, set: 'validation', done, total }).catch(() => undefined),
        });
      }
      if (testSet) {
        test = await evaluate(model, testSet, {
          batchSize: recipe.evalBatchSize,
          ...evalShard,
          normalization: recipe.normalization,
          ...(signal && !world ? { signal } : {}), // under MPI the ranks agree on a stop between batches
          onProgress: (done, total) => void emit({ type: 'evaluate', epoch: epoch + 1, set: 'test', done, total }).catch(() => undefined),
        });
      }
    } catch (err) {
      if (!isAbortError(err)) throw err;
      await saveCheckpoint('abort', epoch, nb, p);
      return finish({ epoch, batch: nb });
    }
    lastEvalMs = performance.now() - evalT0;
    if (world) {
      // Each rank evaluated its share of every batch: the sums over the ranks give the figures
      // of the whole sets, the same on every rank.
      valid = valid && combineEvaluations(valid);
      test = test && combineEvaluations(test);
    }
    const record: EpochRecord = {
      epoch: epoch + 1,
      trainLoss: p.seen > 0 ? p.lossSum / p.seen : NaN,
      trainError: p.seen > 0 ? 1 - p.correct / p.seen : NaN,
      validLoss: valid ? valid.loss : null,
      validError: valid ? valid.top1Error : null,
      testError: test ? test.top1Error : null,
    };
    // Best on validation (strictly lower error; ties keep the earlier epoch). Without validation, the latest.
    const isBest = valid ? best === null || best.validError === null || valid.top1Error < best.validError : true;
    if (isBest) {
      best = { epoch: epoch + 1, validLoss: record.validLoss, validError: record.validError, testError: record.testError };
      if (lead) await model.save(paths.best, { preprocessing });
    }
    records = [...records, record];
    const last = epoch + 1 === recipe.epochs;
    if (last || (epoch + 1) % checkpointEvery === 0) await saveCheckpoint('epoch', epoch + 1, 0, zeroPartial());
    await writeResults(records);
    if (last && lead) await model.save(paths.final, { preprocessing });
    await emit({
      type: 'epoch',
      record,
      epochs: recipe.epochs,
      lr: epochLr,
      trainSeconds: (msBefore + trainMs) / 1000,
      evalSeconds: lastEvalMs / 1000,
      imagesPerSecond: (p.seen * 1000) / Math.max(1e-9, p.dataMs + p.stepMs),
      dataShare: p.dataMs + p.stepMs > 0 ? p.dataMs / (p.dataMs + p.stepMs) : 0,
      isBest,
      best,
      etaSeconds: eta(epoch + 1, 0),
    });
  }
  return finish(null);
}

/** The `cause` option of an abort error for `signal`: its reason, unless that is the default DOM AbortError. */
function abortErrorCause(signal: AbortSignal | undefined): { cause?: unknown } | undefined {
  const reason: unknown = signal?.reason;
  if (reason === undefined) return undefined;
  if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'AbortError') return undefined;
  return { cause: reason };
}

/**
 * The contents of `summary.json`: the result without the per-epoch rows (they are in
 * `results.csv`), the data set sizes, and every number rounded to meaningful digits.
 */
function summaryJson(r: TrainResult, sizes: { train: number; validation: number; test: number }): Record<string, unknown> {
  const best = r.best && {
    epoch: r.best.epoch,
    validLoss: roundMetric(r.best.validLoss),
    validError: roundMetric(r.best.validError),
    testError: roundMetric(r.best.testError),
  };
  return {
    aborted: r.aborted,
    epochsCompleted: r.epochsCompleted,
    epochs: r.epochs,
    best,
    testError: roundMetric(r.testError),
    seconds: roundSeconds(r.seconds),
    totalSeconds: roundSeconds(r.totalSeconds),
    imagesPerSecond: roundRate(r.imagesPerSecond),
    dataShare: roundShare(r.dataShare),
    sizes,
    recipe: { ...r.recipe, lr: roundLr(r.recipe.lr) },
    paths: r.paths,
  };
}


/**
 * The optimizer of a fresh start: the recipe's freeze, its settings and groups (momentum from zero).
 */
function startOptimizer(model: DenseNet, recipe: TrainRecipe): void {
  model.setOptimizer({
    lr: learningRateAt(recipe, 0),
    momentum: recipe.momentum,
    nesterov: recipe.nesterov,
    weightDecay: recipe.weightDecay,
    groups: recipe.paramGroups,
  });
  if (recipe.freeze.length > 0) model.freeze(recipe.freeze);
  model.setLrFactor(1);
}

/**
 * Sets the schedule's lr `lr`. Without groups it is the optimizer's lr; with groups each group's
 * own lr is scaled by `lr / recipe.lr` (PyTorch's LambdaLR over param groups), the top level kept
 * at `recipe.lr`.
 */
function applyLearningRate(model: DenseNet, recipe: TrainRecipe, lr: number): void {
  if (recipe.paramGroups.length === 0) {
    model.setLearningRate(lr);
    return;
  }
  model.setLearningRate(recipe.lr);
  model.setLrFactor(recipe.lr > 0 ? lr / recipe.lr : 1);
}
