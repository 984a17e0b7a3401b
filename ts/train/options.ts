/**
 * Options of {@link train}: the reference recipe of the DenseNet paper as defaults, validation and
 * resolution to a JSON-serializable {@link TrainRecipe}.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { callNative, loadNative } from '../native.js';
import { optimizerJson, type OptimizerOptions } from '../model.js';
import { checkParamGroups, type FreezeSpec, type ParamGroupOptions } from '../finetune.js';
import {
  CIFAR_AUGMENTATION,
  IMAGENET_AUGMENTATION,
  NORMALIZATION,
  computeNormalization,
  resolveNormalization,
  type Augmentation,
  type Dataset,
  type LoaderSource,
  type Normalization,
  type NormalizationName,
} from '../data/index.js';

/**
 * Learning-rate schedules.
 *
 * @category Training
 */
export type ScheduleName = 'multistep' | 'cosine';

/**
 * The defaults of the training loop that the TypeScript side owns (CIFAR, paper Section 4.2).
 * The optimizer defaults (SGD, lr 0.1, Nesterov momentum 0.9, weight decay 1e-4) and the
 * schedule (lr ÷ 10 at 50% and 75% of the epochs) come from the native core, the one authority:
 * see {@link resolveRecipe}.
 *
 * @category Training
 */
export const REFERENCE_RECIPE = Object.freeze({
  /** 300 epochs (SVHN: 40). */
  epochs: 300,
  /** Mini-batch of 64. */
  batchSize: 64,
  /** The multistep schedule. */
  schedule: 'multistep' as ScheduleName,
  /** 5,000 training images held out for validation. */
  validationSize: 5000,
  /** Random crop with 4 px zero padding + horizontal flip. */
  augment: CIFAR_AUGMENTATION,
});

/**
 * Everything that determines a training run's numbers, resolved and JSON-serializable.
 * Stored in every checkpoint and in `summary.json`.
 *
 * @category Training
 */
export interface TrainRecipe {
  /** Number of epochs. */
  epochs: number;
  /** Training mini-batch size. */
  batchSize: number;
  /** Mini-batch size of validation and test passes. */
  evalBatchSize: number;
  /** Initial learning rate. */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** L2 weight decay. */
  weightDecay: number;
  /** `multistep`: lr·gamma^(number of milestones ≤ epoch), set per epoch; `cosine`: lr·(1+cos(π·t/epochs))/2 with fractional epoch t, set per batch. */
  schedule: ScheduleName;
  /** Epochs (0-based epoch index) at which `multistep` multiplies the lr by `gamma`. */
  milestones: number[];
  /** Factor of each `multistep` milestone. */
  gamma: number;
  /** Images held out of the training set for validation (0 when a validation set was given or none is used). */
  validationSize: number;
  /** Seed of the validation split, the batch order and the augmentation. */
  seed: number;
  /** Training augmentation. */
  augment: Augmentation;
  /** Input normalization (train, validation and test). */
  normalization: Normalization | null;
  /** Drop the last partial training batch of each epoch. */
  dropLast: boolean;
  /** Frozen when training starts (see {@link DenseNet.freeze}); `[]` for none. */
  freeze: FreezeSpec[];
  /** 0-based epoch from which `freeze`'s parameters train again, or `null` for never. */
  unfreezeAt: number | null;
  /** Optimizer parameter groups (see {@link DenseNet.setOptimizer}); the schedule scales each group's lr. */
  paramGroups: ParamGroupOptions[];
}

/**
 * Training options that pick data and numbers (see {@link TrainOptions} for the rest).
 *
 * @category Training
 */
export interface RecipeOptions {
  /** Number of epochs (default 300, the CIFAR recipe; use 40 for SVHN). */
  epochs?: number;
  /** Mini-batch size (default 64). */
  batchSize?: number;
  /** Mini-batch size of validation/test passes (default: `batchSize`). */
  evalBatchSize?: number;
  /** Initial learning rate (default: the native core's, 0.1). */
  lr?: number;
  /** Momentum (default: the native core's, 0.9). */
  momentum?: number;
  /** Nesterov momentum (default `true`, or `false` when `momentum` is 0). */
  nesterov?: boolean;
  /** Weight decay (default: the native core's, 1e-4). */
  weightDecay?: number;
  /** `multistep` (default, the reference) or `cosine`. */
  schedule?: ScheduleName;
  /** Multistep milestones in epochs (default: the native reference schedule, 50% and 75% of the epochs). */
  milestones?: number[];
  /** Multistep factor (default: the native reference schedule's, 0.1). */
  gamma?: number;
  /**
   * Images held out of `trainSet` for validation, chosen with a seeded shuffle (default 5,000, the
   * reference). Ignored when `validationSet` is given; 0 trains on everything (then the final model
   * counts as the best one).
   */
  validationSize?: number;
  /** Seed of the split, the batch order and the augmentation (default 0). The model's init seed is separate ({@link DenseNet.create}). */
  seed?: number;
  /**
   * Training augmentation (default: random crop with 4 px zero padding + horizontal flip; for image folders
   * random-resized crop + flip); `false` for none.
   */
  augment?: Augmentation | false;
  /**
   * Input normalization: a preset name, values, `null` (scale to [0, 1] only) or `'auto'` (default):
   * the preset named like the data set (`cifar10`, `cifar100`, `svhn`, `mnist`, `mnist-32`), `imagenet`
   * for image folders, else statistics computed on the training images.
   */
  normalization?: Normalization | NormalizationName | null | 'auto';
  /** Drop the last partial training batch of each epoch (default `false`). */
  dropLast?: boolean;
  /**
   * Fine-tuning: parameters to freeze when training starts (name prefixes or stages, see
   * {@link DenseNet.freeze}), e.g. `['features']` to train the classifier only. A resumed run
   * takes the frozen set from its checkpoint. Default: none (a model frozen beforehand stays so).
   */
  freeze?: FreezeSpec[];
  /**
   * Gradual unfreezing: the 0-based epoch from which the parameters of `freeze` train again
   * (e.g. 5: after 5 epochs); default never.
   */
  unfreezeAt?: number;
  /**
   * Optimizer parameter groups with their own lr and weight decay, e.g.
   * `[{ name: 'backbone', prefixes: ['features'], lr: 0.01 }]` (the classifier keeps `lr`). The
   * schedule scales every group's lr alike (a group at `lr·k` stays at `schedule(t)·k`). Default:
   * the groups the model has.
   */
  paramGroups?: ParamGroupOptions[];
}

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function bad(name: string, want: string, got: unknown): never {
  throw new InvalidArgumentError(`${name} must be ${want}, got ${JSON.stringify(got) ?? String(got)}`);
}

function baseName(name: string): string {
  return name.replace(/-(train|test|valid|extra)$/, '');
}

/**
 * Resolves the `'auto'` normalization of a training set (see {@link RecipeOptions.normalization}).
 *
 * @param ds - the training images
 */
export function autoNormalization(ds: LoaderSource): Normalization {
  const key = baseName(ds.name) as NormalizationName;
  if (Object.prototype.hasOwnProperty.call(NORMALIZATION, key) && NORMALIZATION[key].mean.length === ds.channels) {
    return NORMALIZATION[key];
  }
  if ('kind' in ds && ds.kind === 'image-folder') return resolveNormalization('imagenet', ds.channels);
  return computeNormalization(ds as Dataset, 10000);
}

/**
 * Validates recipe options and fills in the reference defaults. The optimizer settings are
 * validated and completed by the native core (`normalizeOptimizer`), the default milestones and
 * gamma are the native reference schedule (`referenceSchedule`), and the schedule is validated
 * by the native `scheduleLr`; this function checks the loop's own options.
 *
 * @param o - the options
 * @param trainSet - the training images (for `'auto'` normalization)
 * @param validationGiven - whether a separate validation set is given (then `validationSize` is 0)
 * @throws {@link InvalidArgumentError} naming the option
 *
 * @category Training
 */
export function resolveRecipe(o: RecipeOptions, trainSet: LoaderSource, validationGiven: boolean): TrainRecipe {
  const R = REFERENCE_RECIPE;
  const epochs = o.epochs ?? R.epochs;
  if (!isInt(epochs, 1) || epochs > 0xffffffff) bad('epochs', 'a positive integer', epochs);
  const batchSize = o.batchSize ?? R.batchSize;
  if (!isInt(batchSize, 1)) bad('batchSize', 'a positive integer', batchSize);
  const evalBatchSize = o.evalBatchSize ?? batchSize;
  if (!isInt(evalBatchSize, 1)) bad('evalBatchSize', 'a positive integer', evalBatchSize);
  const native = loadNative();
  // The optimizer: types checked here, values and defaults by the native core.
  const given: OptimizerOptions = {};
  if (o.lr !== undefined) given.lr = o.lr;
  if (o.momentum !== undefined) given.momentum = o.momentum;
  if (o.weightDecay !== undefined) given.weightDecay = o.weightDecay;
  if (o.nesterov !== undefined) given.nesterov = o.nesterov;
  else if (o.momentum === 0) given.nesterov = false; // plain SGD when momentum is switched off
  const json = optimizerJson(given);
  const opt = JSON.parse(callNative(() => native.normalizeOptimizer(json))) as Required<OptimizerOptions>;
  const schedule = o.schedule ?? R.schedule;
  if (schedule !== 'multistep' && schedule !== 'cosine') bad('schedule', "'multistep' or 'cosine'", schedule);
  const reference = JSON.parse(callNative(() => native.referenceSchedule(opt.lr, epochs))) as { milestones: number[]; gamma: number };
  if (o.milestones !== undefined && (!Array.isArray(o.milestones) || o.milestones.some((m) => typeof m !== 'number'))) {
    bad('milestones', 'an array of epochs (numbers)', o.milestones);
  }
  if (schedule === 'cosine') {
    for (const k of ['milestones', 'gamma'] as const) {
      if (o[k] !== undefined) {
        throw new InvalidArgumentError(`${k} applies to the multistep schedule only; the cosine schedule would ignore it (drop ${k}, or use schedule 'multistep')`);
      }
    }
  }
  // Out-of-order milestones are refused by the native core (never sorted silently).
  const milestones = o.milestones ? [...o.milestones] : reference.milestones;
  const gamma = o.gamma ?? reference.gamma;
  if (typeof gamma !== 'number') bad('gamma', 'a number', gamma);
  // Milestone m divides the lr from 0-based epoch m on; one at or past `epochs` would be ignored in silence.
  const late = milestones.filter((m) => m >= epochs);
  if (late.length > 0) {
    throw new InvalidArgumentError(
      `milestones ${late.join(', ')} ${late.length === 1 ? 'is' : 'are'} at or past the end of training (${epochs} epochs, the last starts at ${epochs - 1}): ` +
        'the schedule would never apply them; drop them or train for more epochs',
    );
  }
  const validationSize = validationGiven ? 0 : (o.validationSize ?? R.validationSize);
  if (!isInt(validationSize, 0)) bad('validationSize', 'an integer >= 0', validationSize);
  if (validationSize >= trainSet.length) {
    throw new InvalidArgumentError(
      `validationSize (${validationSize}) must be smaller than the training set (${trainSet.length} images); pass a smaller validationSize or 0`,
    );
  }
  const seed = o.seed ?? 0;
  if (!isInt(seed, 0)) bad('seed', 'an integer >= 0', seed);
  const folder = 'kind' in trainSet && trainSet.kind === 'image-folder';
  const augment = o.augment === false ? {} : (o.augment ?? (folder ? IMAGENET_AUGMENTATION : R.augment));
  if (augment === null || typeof augment !== 'object') bad('augment', 'an Augmentation object or false', augment);
  const n = o.normalization === undefined ? 'auto' : o.normalization;
  const normalization = n === null ? null : n === 'auto' ? autoNormalization(trainSet) : resolveNormalization(n, trainSet.channels);
  const dropLast = o.dropLast ?? false;
  if (typeof dropLast !== 'boolean') bad('dropLast', 'a boolean', dropLast);
  const freeze = o.freeze ?? [];
  if (!Array.isArray(freeze) || !freeze.every((f) => typeof f === 'string' && f !== '')) bad('freeze', 'an array of parameter name prefixes or stages', freeze);
  const unfreezeAt = o.unfreezeAt ?? null;
  if (unfreezeAt !== null) {
    if (!isInt(unfreezeAt, 1)) bad('unfreezeAt', 'a positive integer (an epoch)', unfreezeAt);
    if (freeze.length === 0) throw new InvalidArgumentError('unfreezeAt needs freeze: it names when the frozen parameters train again');
    if (unfreezeAt >= epochs) {
      throw new InvalidArgumentError(`unfreezeAt ${unfreezeAt} is at or past the end of training (${epochs} epochs): the parameters would never be unfrozen; lower it or train for more epochs`);
    }
  }
  // Types here; values (lr, weight decay) by the native core, prefixes against the model when training starts.
  const paramGroups = o.paramGroups === undefined ? [] : checkParamGroups(o.paramGroups);
  if (paramGroups.length > 0) callNative(() => native.normalizeOptimizer(optimizerJson({ ...given, groups: paramGroups })));
  const recipe: TrainRecipe = {
    epochs,
    batchSize,
    evalBatchSize,
    lr: opt.lr,
    momentum: opt.momentum,
    nesterov: opt.nesterov,
    weightDecay: opt.weightDecay,
    schedule,
    milestones,
    gamma,
    validationSize,
    seed,
    augment: JSON.parse(JSON.stringify(augment)) as Augmentation,
    normalization: normalization ? { mean: [...normalization.mean], std: [...normalization.std] } : null,
    dropLast,
    freeze: [...freeze],
    unfreezeAt,
    paramGroups,
  };
  // The native core validates the schedule (milestones, gamma) when it is first used: do it now.
  callNative(() => native.scheduleLr(scheduleJson({ ...recipe, schedule: 'multistep' }), 0));
  return recipe;
}

/** The schedule JSON of the native `scheduleLr` for a recipe. @internal */
export function scheduleJson(r: TrainRecipe): string {
  return r.schedule === 'cosine'
    ? JSON.stringify({ type: 'cosine', lr: r.lr, epochs: r.epochs })
    : JSON.stringify({ type: 'multiStep', lr: r.lr, milestones: r.milestones, gamma: r.gamma });
}

/**
 * The learning rate of a recipe at a (fractional) epoch, computed by the native core's `scheduleLr`.
 *
 * @param r - the recipe
 * @param epoch - 0-based epoch; `multistep` uses its integer part
 * @throws {@link InvalidArgumentError} for an invalid schedule
 *
 * @category Training
 */
export function learningRateAt(r: TrainRecipe, epoch: number): number {
  const e = r.schedule === 'multistep' ? Math.floor(epoch) : epoch;
  if (typeof e !== 'number' || !Number.isFinite(e)) throw new InvalidArgumentError(`epoch must be a finite number, got ${String(epoch)}`);
  const native = loadNative();
  return callNative(() => native.scheduleLr(scheduleJson(r), e));
}
