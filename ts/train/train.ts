/**
 * The training loop: the paper's recipe, per-epoch `results.csv`, best-on-validation model,
 * checkpoints every epoch (and on abort) that resume bit for bit, typed events, and a measure of
 * how much of each step waits for data. Its parts: one epoch's steps and evaluation
 * (`epoch.ts`), checkpoints and resuming (`checkpoint.ts`), the run's shared state and its end
 * (`run.ts`), the results and `summary.json` (`results.ts`), the events (`events.ts`) and the
 * optimizer's lr (`lr.ts`).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import { InvalidArgumentError } from '../errors.js';
import { checkPositiveInt } from '../internal/validate.js';
import { distributedWorld, setSettled } from '../distributed.js';
import type { DenseNet } from '../model.js';
import type { Preprocessing } from '../weights.js';
import { DataLoader, splitTrainValidation, type LoaderSource, type Normalization } from '../data/index.js';
import { resumeFromCheckpoint, saveRunCheckpoint, zeroPartial } from './checkpoint.js';
import { evaluateEpoch, trainEpoch } from './epoch.js';
import type { BatchEvent, EpochEvent, TrainEvent } from './events.js';
import { makeDirectory, type EpochRecord } from './io.js';
import { startOptimizer } from './lr.js';
import { learningRateAt, resolveRecipe, type RecipeOptions } from './options.js';
import { trainPaths, type TrainResult } from './results.js';
import { agree, eta, finishRun, newTiming, writeResults, type TrainRun } from './run.js';

// The names this module exported before its split, for the modules that import them from here.
export { TrainAbortError } from './abort.js';
export type { EpochPartial, TrainCheckpointState } from './checkpoint.js';
export type { BatchEvent, CheckpointEvent, EndEvent, EpochEvent, EvaluateEvent, StartEvent, TrainEvent, UnfreezeEvent, WarningEvent } from './events.js';
export { trainPaths, type BestRecord, type TrainPaths, type TrainResult } from './results.js';

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
  checkPositiveInt('checkpointEvery', checkpointEvery);
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

  const outDir = resolve(options.outDir);
  const paths = trainPaths(outDir);
  const ckptPath = typeof options.resume === 'string' ? resolve(options.resume) : paths.checkpoint;
  const resuming = !!options.resume && existsSync(ckptPath);
  // A fresh start freezes and sets the optimizer before any file is written: a freeze spec or
  // group prefix that names no parameter is refused with nothing created.
  if (!resuming && !options.resume) startOptimizer(model, recipe);
  if (lead) makeDirectory(outDir);

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

  const run: TrainRun = {
    model,
    recipe,
    paths,
    sizes,
    world,
    lead,
    worldSize,
    signal,
    t0,
    batchesPerEpoch: nb,
    priorSeconds: 0,
    records: [],
    best: null,
    timing: newTiming(),
    emit,
  };

  // ---- resume or start fresh ----
  let pos = { epoch: 0, batch: 0 };
  let partial = zeroPartial();
  let warnings: string[] = [];
  if (resuming) {
    const resumed = await resumeFromCheckpoint(model, ckptPath, recipe, sizes, worldSize, options.syncBatchNorm);
    run.records = resumed.records;
    run.best = resumed.best;
    run.priorSeconds = resumed.priorSeconds;
    pos = resumed.position;
    partial = resumed.partial;
    warnings = resumed.warnings;
    // Rows written after the checkpoint (if the process died in between) are dropped: they will be recomputed identically.
    await writeResults(run, run.records);
  } else {
    if (options.resume) {
      // Never a silent fresh start: the caller asked to continue a run that is not there.
      throw new InvalidArgumentError(`resume: there is no training run to resume (no checkpoint at ${ckptPath}); start without resume`);
    }
    await writeResults(run, run.records);
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
    resumed: resuming,
    outDir,
  });
  for (const message of warnings) await emit({ type: 'warning', message });

  for (let epoch = pos.epoch; epoch < recipe.epochs; epoch++) {
    const startBatch = epoch === pos.epoch ? pos.batch : 0;
    const p = epoch === pos.epoch ? partial : zeroPartial();
    const epochLr = learningRateAt(recipe, epoch);
    if (agree(run, signal?.aborted === true)) {
      await saveRunCheckpoint(run, 'abort', epoch, startBatch, p);
      return finishRun(run, { epoch, batch: startBatch });
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
      const stoppedAt = await trainEpoch(run, loader, epoch, startBatch, p, epochLr, stepOptions);
      if (stoppedAt !== null) {
        await saveRunCheckpoint(run, 'abort', epoch, stoppedAt, p);
        return finishRun(run, { epoch, batch: stoppedAt });
      }
    }
    const trainMs = performance.now() - epochT0;
    // ---- evaluation ----
    const evaluation = await evaluateEpoch(run, epoch, validationSet, testSet);
    if (evaluation === 'aborted') {
      await saveRunCheckpoint(run, 'abort', epoch, nb, p);
      return finishRun(run, { epoch, batch: nb });
    }
    const { valid, test } = evaluation;
    const record: EpochRecord = {
      epoch: epoch + 1,
      trainLoss: p.seen > 0 ? p.lossSum / p.seen : NaN,
      trainError: p.seen > 0 ? 1 - p.correct / p.seen : NaN,
      validLoss: valid ? valid.loss : null,
      validError: valid ? valid.top1Error : null,
      testError: test ? test.top1Error : null,
    };
    // Best on validation (strictly lower error; ties keep the earlier epoch). Without validation, the latest.
    const best = run.best;
    const isBest = valid ? best === null || best.validError === null || valid.top1Error < best.validError : true;
    if (isBest) {
      run.best = { epoch: epoch + 1, validLoss: record.validLoss, validError: record.validError, testError: record.testError };
      if (lead) await model.save(paths.best, { preprocessing });
    }
    run.records = [...run.records, record];
    const last = epoch + 1 === recipe.epochs;
    if (last || (epoch + 1) % checkpointEvery === 0) await saveRunCheckpoint(run, 'epoch', epoch + 1, 0, zeroPartial());
    await writeResults(run, run.records);
    if (last && lead) await model.save(paths.final, { preprocessing });
    await emit({
      type: 'epoch',
      record,
      epochs: recipe.epochs,
      lr: epochLr,
      trainSeconds: (msBefore + trainMs) / 1000,
      evalSeconds: run.timing.lastEvalMs / 1000,
      imagesPerSecond: (p.seen * 1000) / Math.max(1e-9, p.dataMs + p.stepMs),
      dataShare: p.dataMs + p.stepMs > 0 ? p.dataMs / (p.dataMs + p.stepMs) : 0,
      isBest,
      best: run.best,
      etaSeconds: eta(run, epoch + 1, 0),
    });
  }
  return finishRun(run, null);
}
