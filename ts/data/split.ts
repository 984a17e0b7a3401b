/**
 * Seeded train/validation splits.
 *
 * @module
 */
import { SubsetDataset, type Dataset } from './dataset.js';
import { checkArg } from './errors.js';
import { Rng } from './rng.js';
import type { ImageFolderDataset } from './image-folder.js';

/**
 * Options of {@link splitTrainValidation}.
 *
 * @category Data
 */
export interface SplitOptions {
  /** Number of samples held out for validation. Default 5,000 (the DenseNet recipe). */
  validationSize?: number;
  /** Seed of the split (independent of the loader's shuffling seed). Default 0. */
  seed?: number | string;
}

/** Disjoint, sorted index sets of a split. */
export interface SplitIndices {
  /** Indices left for training. */
  train: Int32Array;
  /** Held-out indices. */
  validation: Int32Array;
}

/** Key mixed into the seed so a split never correlates with a loader using the same seed. */
const SPLIT_KEY = 0x53504c54; // "SPLT"

/**
 * Splits `0..n-1` into disjoint, sorted train and validation index sets, uniformly at random.
 * The same `(n, validationSize, seed)` always gives the same split, on every platform.
 * @throws DataError `ERR_DATA_INVALID_ARG` unless `0 <= validationSize < n`.
 */
export function splitIndices(n: number, validationSize: number, seed: number | string = 0): SplitIndices {
  checkArg(
    Number.isInteger(validationSize) && validationSize >= 0 && validationSize < n,
    `validationSize must be an integer in [0, ${n}) for a data set of ${n}, got ${validationSize}`,
  );
  const perm = new Rng(seed, SPLIT_KEY, n).permutation(n);
  const validation = perm.slice(0, validationSize).sort();
  const train = perm.slice(validationSize).sort();
  return { train, validation };
}

/**
 * A train/validation pair of views.
 *
 * @category Data
 */
export interface TrainValidation<D> {
  /** The samples left for training. */
  train: D;
  /** The held-out samples. */
  validation: D;
}

/**
 * Holds out `validationSize` samples (default 5,000) for validation, chosen with a seeded shuffle.
 * Returns views (no pixel copy), named `<name>-train` / `<name>-valid`.
 *
 * @category Data
 */
export function splitTrainValidation(ds: Dataset, opts?: SplitOptions): TrainValidation<SubsetDataset>;
/**
 * Same for an image folder (returns image-folder views).
 *
 * @category Data
 */
export function splitTrainValidation(ds: ImageFolderDataset, opts?: SplitOptions): TrainValidation<ImageFolderDataset>;
/** @category Data */
export function splitTrainValidation(
  ds: Dataset | ImageFolderDataset,
  opts: SplitOptions = {},
): TrainValidation<SubsetDataset> | TrainValidation<ImageFolderDataset> {
  const { train, validation } = splitIndices(ds.length, opts.validationSize ?? 5000, opts.seed ?? 0);
  const base = ds.name.replace(/-train$/, '');
  if ('kind' in ds && ds.kind === 'image-folder') {
    return { train: ds.subset(train, `${base}-train`), validation: ds.subset(validation, `${base}-valid`) };
  }
  const d = ds as Dataset;
  return { train: new SubsetDataset(d, train, `${base}-train`), validation: new SubsetDataset(d, validation, `${base}-valid`) };
}
