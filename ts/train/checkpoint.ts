/**
 * Training checkpoints: the state stored with the weights (schedule and loader position, the
 * epoch's running sums, results, recipe), writing it, and resuming from it with every check on
 * the stored state done before the model is touched.
 *
 * @module
 */
import { InvalidArgumentError, WeightsError } from '../errors.js';
import type { DenseNet } from '../model.js';
import { readWeightsInfo } from '../weights.js';
import type { LoaderState } from '../data/index.js';
import type { EpochRecord } from './io.js';
import { learningRateAt, type TrainRecipe } from './options.js';
import type { BestRecord } from './results.js';
import type { RunSizes, TrainRun } from './run.js';

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

/** The running sums of an epoch not started yet. */
export const zeroPartial = (): EpochPartial => ({ lossSum: 0, correct: 0, seen: 0, batches: 0, dataMs: 0, stepMs: 0 });

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
 * Writes the run's checkpoint at `epoch`/`batch` with the epoch's running sums `p` (rank 0 only)
 * and emits a `checkpoint` event.
 */
export async function saveRunCheckpoint(run: TrainRun, reason: 'epoch' | 'abort', epoch: number, batch: number, p: EpochPartial): Promise<void> {
  const { recipe, world } = run;
  const state: TrainCheckpointState = {
    kind: 'densenet-sdk/train',
    version: 1,
    position: { epoch, batch },
    loader: { seed: recipe.seed, epoch, batch },
    partial: p,
    records: run.records,
    best: run.best,
    recipe,
    elapsedSeconds: run.priorSeconds + (performance.now() - run.t0) / 1000,
    ...(world ? { worldSize: run.worldSize } : {}),
    sizes: run.sizes,
  };
  if (!run.lead) return;
  await run.model.saveCheckpoint(run.paths.checkpoint, state);
  await run.emit({ type: 'checkpoint', path: run.paths.checkpoint, reason, epoch, batch });
}

/** Where a resumed run continues, and what it warns about. */
export interface ResumedRun {
  records: EpochRecord[];
  best: BestRecord | null;
  position: { epoch: number; batch: number };
  partial: EpochPartial;
  priorSeconds: number;
  warnings: string[];
}

/**
 * Resumes `model` from the checkpoint at `ckptPath`: refuses one of another run (another batch
 * size, seed, split or data), warns about changed settings, then loads weights and optimizer.
 */
export async function resumeFromCheckpoint(
  model: DenseNet,
  ckptPath: string,
  recipe: TrainRecipe,
  sizes: RunSizes,
  worldSize: number,
  syncBatchNorm: boolean | undefined,
): Promise<ResumedRun> {
  const warnings: string[] = [];
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
        (syncBatchNorm || worldSize === 1 ? '' : ' (BN per replica now normalizes over each share of the new size)'),
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
  return {
    records: extra.records,
    best: extra.best,
    position: extra.position,
    partial: extra.partial ?? zeroPartial(),
    priorSeconds: typeof extra.elapsedSeconds === 'number' && extra.elapsedSeconds >= 0 ? extra.elapsedSeconds : 0,
    warnings,
  };
}
