/**
 * Options of {@link train}: the reference recipe of the DenseNet paper as defaults, validation and
 * resolution to a JSON-serializable {@link TrainRecipe}.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { loadNative } from '../native.js';
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

/** Learning-rate schedules. */
export type ScheduleName = 'multistep' | 'cosine';

/** The defaults of the reference recipe (CIFAR, paper Section 4.2). */
export const REFERENCE_RECIPE = Object.freeze({
  /** 300 epochs (SVHN: 40). */
  epochs: 300,
  /** Mini-batch of 64. */
  batchSize: 64,
  /** Initial learning rate. */
  lr: 0.1,
  /** Momentum 0.9. */
  momentum: 0.9,
  /** Nesterov momentum. */
  nesterov: true,
  /** Weight decay 1e-4. */
  weightDecay: 1e-4,
  /** Multistep schedule... */
  schedule: 'multistep' as ScheduleName,
  /** ...with milestones at 50% and 75% of the epochs... */
  milestoneFractions: Object.freeze([0.5, 0.75]) as readonly number[],
  /** ...dividing the lr by 10. */
  gamma: 0.1,
  /** 5,000 training images held out for validation. */
  validationSize: 5000,
  /** Random crop with 4 px zero padding + horizontal flip. */
  augment: CIFAR_AUGMENTATION,
});

/**
 * Everything that determines a training run's numbers, resolved and JSON-serializable.
 * Stored in every checkpoint and in `summary.json`.
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
}

/** Training options that pick data and numbers (see {@link TrainOptions} for the rest). */
export interface RecipeOptions {
  /** Number of epochs (default 300, the CIFAR recipe; use 40 for SVHN). */
  epochs?: number;
  /** Mini-batch size (default 64). */
  batchSize?: number;
  /** Mini-batch size of validation/test passes (default: `batchSize`). */
  evalBatchSize?: number;
  /** Initial learning rate (default 0.1). */
  lr?: number;
  /** Momentum (default 0.9). */
  momentum?: number;
  /** Nesterov momentum (default `true`). */
  nesterov?: boolean;
  /** Weight decay (default 1e-4). */
  weightDecay?: number;
  /** `multistep` (default, the reference) or `cosine`. */
  schedule?: ScheduleName;
  /** Multistep milestones in epochs (default `[0.5·epochs, 0.75·epochs]`). */
  milestones?: number[];
  /** Multistep factor (default 0.1). */
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
}

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function isNum(v: unknown, min: number, maxExclusive = Infinity): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v < maxExclusive;
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
 * Validates recipe options and fills in the reference defaults.
 *
 * @param o - the options
 * @param trainSet - the training images (for `'auto'` normalization)
 * @param validationGiven - whether a separate validation set is given (then `validationSize` is 0)
 * @throws {@link InvalidArgumentError} naming the option
 */
export function resolveRecipe(o: RecipeOptions, trainSet: LoaderSource, validationGiven: boolean): TrainRecipe {
  const R = REFERENCE_RECIPE;
  const epochs = o.epochs ?? R.epochs;
  if (!isInt(epochs, 1)) bad('epochs', 'a positive integer', epochs);
  const batchSize = o.batchSize ?? R.batchSize;
  if (!isInt(batchSize, 1)) bad('batchSize', 'a positive integer', batchSize);
  const evalBatchSize = o.evalBatchSize ?? batchSize;
  if (!isInt(evalBatchSize, 1)) bad('evalBatchSize', 'a positive integer', evalBatchSize);
  const lr = o.lr ?? R.lr;
  if (!isNum(lr, 0)) bad('lr', 'a finite number >= 0', lr);
  const momentum = o.momentum ?? R.momentum;
  if (!isNum(momentum, 0, 1)) bad('momentum', 'in [0, 1)', momentum);
  const nesterov = o.nesterov ?? (momentum > 0 ? R.nesterov : false);
  if (typeof nesterov !== 'boolean') bad('nesterov', 'a boolean', nesterov);
  if (nesterov && momentum === 0) throw new InvalidArgumentError('nesterov needs momentum > 0');
  const weightDecay = o.weightDecay ?? R.weightDecay;
  if (!isNum(weightDecay, 0)) bad('weightDecay', 'a finite number >= 0', weightDecay);
  const schedule = o.schedule ?? R.schedule;
  if (schedule !== 'multistep' && schedule !== 'cosine') bad('schedule', "'multistep' or 'cosine'", schedule);
  const milestones = o.milestones ? [...o.milestones] : R.milestoneFractions.map((f) => f * epochs);
  if (!Array.isArray(milestones) || milestones.some((m) => !isNum(m, 0))) bad('milestones', 'an array of epochs >= 0', o.milestones);
  const gamma = o.gamma ?? R.gamma;
  if (!isNum(gamma, 0) || gamma === 0) bad('gamma', 'a number > 0', gamma);
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
  return {
    epochs,
    batchSize,
    evalBatchSize,
    lr,
    momentum,
    nesterov,
    weightDecay,
    schedule,
    milestones: milestones.sort((a, b) => a - b),
    gamma,
    validationSize,
    seed,
    augment: JSON.parse(JSON.stringify(augment)) as Augmentation,
    normalization: normalization ? { mean: [...normalization.mean], std: [...normalization.std] } : null,
    dropLast,
  };
}

/** The schedule JSON of the native `scheduleLr` for a recipe. */
export function scheduleJson(r: TrainRecipe): string {
  return r.schedule === 'cosine'
    ? JSON.stringify({ type: 'cosine', lr: r.lr, epochs: r.epochs })
    : JSON.stringify({ type: 'multiStep', lr: r.lr, milestones: r.milestones, gamma: r.gamma });
}

/**
 * The learning rate of a recipe at a (fractional) epoch, computed by the native core's `scheduleLr`
 * (the same formula in TypeScript when the loaded addon predates it).
 *
 * @param r - the recipe
 * @param epoch - 0-based epoch; `multistep` uses its integer part
 */
export function learningRateAt(r: TrainRecipe, epoch: number): number {
  const e = r.schedule === 'multistep' ? Math.floor(epoch) : epoch;
  const native = loadNative();
  if (typeof native.scheduleLr === 'function') return native.scheduleLr(scheduleJson(r), e);
  if (r.schedule === 'cosine') return r.lr * 0.5 * (1 + Math.cos((Math.PI * e) / r.epochs));
  return r.lr * Math.pow(r.gamma, r.milestones.filter((m) => m <= e).length);
}
