/**
 * One entry point for the named data sets: find on disk, optionally download, read; plus each data set's
 * recommended normalization and augmentation.
 *
 * @module
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { InMemoryDataset } from './dataset.js';
import { DataError } from './errors.js';
import { loadCifar10, loadCifar10Python, loadCifar100 } from './cifar.js';
import { loadSvhn } from './svhn.js';
import { loadMnist } from './mnist.js';
import { downloadDataset, type DownloadOptions } from './download.js';
import { CIFAR_AUGMENTATION, NO_AUGMENTATION, type Augmentation } from './augment.js';
import type { NormalizationName } from './normalize.js';

/**
 * Names accepted by {@link loadDataset}.
 *
 * @category Data
 */
export type DatasetName = 'cifar10' | 'cifar100' | 'svhn' | 'mnist';

/**
 * Every name accepted by {@link loadDataset}.
 *
 * @category Data
 */
export const DATASET_NAMES: readonly DatasetName[] = Object.freeze(['cifar10', 'cifar100', 'svhn', 'mnist'] as DatasetName[]);

/**
 * Recommended settings of a named data set (the DenseNet paper's choices).
 *
 * @category Data
 */
export interface DatasetPreset {
  /** Number of classes. */
  numClasses: number;
  /** `[channels, height, width]` of the images. */
  shape: [number, number, number];
  /** Normalization preset. */
  normalization: NormalizationName;
  /** Training augmentation: crop+flip for CIFAR ("C10+"), none for SVHN (as in the paper) and MNIST. */
  augmentation: Augmentation;
  /** Epochs of the reference recipe (300 for CIFAR, 40 for SVHN). */
  epochs: number;
}

/**
 * Recommended settings per data set.
 *
 * @category Data
 */
export const DATASET_PRESETS: Readonly<Record<DatasetName, DatasetPreset>> = Object.freeze({
  cifar10: { numClasses: 10, shape: [3, 32, 32], normalization: 'cifar10', augmentation: CIFAR_AUGMENTATION, epochs: 300 },
  cifar100: { numClasses: 100, shape: [3, 32, 32], normalization: 'cifar100', augmentation: CIFAR_AUGMENTATION, epochs: 300 },
  svhn: { numClasses: 10, shape: [3, 32, 32], normalization: 'svhn', augmentation: NO_AUGMENTATION, epochs: 40 },
  mnist: { numClasses: 10, shape: [1, 28, 28], normalization: 'mnist', augmentation: NO_AUGMENTATION, epochs: 40 },
});

/**
 * The default data root: `$DENSENET_DATA` if set, else `~/.cache/densenet/data`.
 *
 * @category Data
 */
export function defaultDataRoot(): string {
  return process.env['DENSENET_DATA'] ?? path.join(os.homedir(), '.cache', 'densenet', 'data');
}

/**
 * Options of {@link loadDataset}.
 *
 * @category Data
 */
export interface LoadDatasetOptions {
  /** Data root (see {@link defaultDataRoot}). Ignored for `mnist` (embedded). */
  root?: string;
  /** `train` (default), `test`, or for SVHN `extra`. MNIST has a single 10,000-image split (`train`). */
  split?: 'train' | 'test' | 'extra';
  /** Download the data set when it is missing. Default `false` (a missing data set is a `ERR_DATA_NOT_FOUND` error). */
  download?: boolean;
  /** Passed to `downloadDataset`. */
  downloadOptions?: DownloadOptions;
  /** Cancels a download (see {@link DownloadOptions.signal}); the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** CIFAR-100 label set, `fine` (default) or `coarse`. */
  labels?: 'fine' | 'coarse';
  /** MNIST: zero-pad to 32×32. */
  pad32?: boolean;
}

/**
 * Loads a named data set into memory. CIFAR-10 is read from the binary version, or else the python version
 * (folder or `cifar-10-python.tar.gz`). With `download: true` a missing data set is fetched and verified first.
 * @throws DataError `ERR_DATA_NOT_FOUND` (saying where it looked and how to download), `ERR_DATA_INVALID_ARG`, or a reader's error.
 *
 * @example
 * ```ts
 * import { loadDataset, splitTrainValidation, DataLoader, DATASET_PRESETS } from 'densenet-sdk';
 *
 * const full = await loadDataset('cifar10', { root: 'data', download: true }); // 50,000 images, MD5-verified
 * const test = await loadDataset('cifar10', { root: 'data', split: 'test' });
 * const { train, validation } = splitTrainValidation(full, { validationSize: 5000, seed: 0 });
 * const digits = await loadDataset('mnist');                                 // embedded, no download
 *
 * const p = DATASET_PRESETS.cifar10;
 * for await (const batch of new DataLoader(train, { batchSize: 64, augment: p.augmentation, normalization: p.normalization })) {
 *   // batch.images: Float32Array [64, 3, 32, 32], batch.labels: Int32Array
 * }
 * ```
 *
 * @category Data
 */
export async function loadDataset(name: DatasetName, opts: LoadDatasetOptions = {}): Promise<InMemoryDataset> {
  const root = opts.root ?? defaultDataRoot();
  const split = opts.split ?? 'train';
  if (split === 'extra' && name !== 'svhn') throw new DataError('ERR_DATA_INVALID_ARG', `split "extra" exists only for svhn, not ${name}`);
  const withDownload = async <T>(read: () => Promise<T>, dl: Parameters<typeof downloadDataset>[0]): Promise<T> => {
    try {
      return await read();
    } catch (e) {
      if (!(e instanceof DataError) || e.code !== 'ERR_DATA_NOT_FOUND' || !opts.download) throw e;
      const signal = opts.signal ?? opts.downloadOptions?.signal;
      await downloadDataset(dl, root, { ...opts.downloadOptions, ...(signal ? { signal } : {}) });
      return read();
    }
  };
  switch (name) {
    case 'cifar10': {
      const s = split as 'train' | 'test';
      return withDownload(async () => {
        try {
          return await loadCifar10(root, { split: s });
        } catch (e) {
          if (!(e instanceof DataError) || e.code !== 'ERR_DATA_NOT_FOUND') throw e;
          try {
            return await loadCifar10Python(root, { split: s });
          } catch (e2) {
            if (e2 instanceof DataError && e2.code === 'ERR_DATA_NOT_FOUND') throw e; // report the binary version
            throw e2;
          }
        }
      }, 'cifar10');
    }
    case 'cifar100':
      return withDownload(() => loadCifar100(root, { split: split as 'train' | 'test', labels: opts.labels ?? 'fine' }), 'cifar100');
    case 'svhn':
      return withDownload(() => loadSvhn(root, { split }), split === 'extra' ? 'svhn-extra' : 'svhn');
    case 'mnist':
      if (split !== 'train') {
        throw new DataError('ERR_DATA_INVALID_ARG', 'the embedded MNIST has one 10,000-image split; hold out data with splitTrainValidation');
      }
      return loadMnist({ pad32: opts.pad32 ?? false });
    default:
      throw new DataError('ERR_DATA_INVALID_ARG', `unknown data set ${JSON.stringify(name)}; known: ${DATASET_NAMES.join(', ')}`);
  }
}
