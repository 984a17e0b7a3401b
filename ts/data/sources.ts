/**
 * Where the downloadable data sets come from, their published MD5s, and where they land on disk.
 *
 * @module
 */
import * as path from 'node:path';
import { DataError } from './errors.js';

/**
 * Names accepted by `downloadDataset`. `svhn` is train + test; `svhn-extra` is the 531,131-image extra set (1.3 GB).
 *
 * @category Data
 */
export type DownloadableDataset = 'cifar10' | 'cifar10-python' | 'cifar100' | 'svhn' | 'svhn-extra';

/** One file to fetch. */
export interface SourceFile {
  /** File name, also the last path component of the URL. */
  file: string;
  /** Official URL. */
  url: string;
  /** Published MD5 (hex). */
  md5: string;
  /** Approximate size in MiB, for messages. */
  approxMiB: number;
  /** `true` for tarballs that are extracted into the data root after verification. */
  extract: boolean;
}

/** How one downloadable data set is laid out. */
export interface DatasetSource {
  /** Human-readable description. */
  description: string;
  /** Folder under the data root where the data files end up (the tarball's top folder, or `svhn`). */
  subdir: string;
  /** Folder under the data root where downloaded files are written (`""` = the root itself). */
  downloadSubdir: string;
  /** Files to fetch. */
  files: SourceFile[];
  /** Files (relative to {@link DatasetSource.subdir}) whose presence means "already there". */
  expect: string[];
}

const TORONTO = 'https://www.cs.toronto.edu/~kriz';
const STANFORD = 'http://ufldl.stanford.edu/housenumbers';

/** The official sources and MD5s of every downloadable data set. */
export const DATASET_SOURCES: Readonly<Record<DownloadableDataset, DatasetSource>> = {
  cifar10: {
    description: 'CIFAR-10, binary version',
    subdir: 'cifar-10-batches-bin',
    downloadSubdir: '',
    files: [
      { file: 'cifar-10-binary.tar.gz', url: `${TORONTO}/cifar-10-binary.tar.gz`, md5: 'c32a1d4ab5d03f1284b67883e8d87530', approxMiB: 162, extract: true },
    ],
    expect: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'],
  },
  'cifar10-python': {
    description: 'CIFAR-10, python (pickle) version',
    subdir: 'cifar-10-batches-py',
    downloadSubdir: '',
    files: [
      { file: 'cifar-10-python.tar.gz', url: `${TORONTO}/cifar-10-python.tar.gz`, md5: 'c58f30108f718f92721af3b95e74349a', approxMiB: 163, extract: true },
    ],
    expect: ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'],
  },
  cifar100: {
    description: 'CIFAR-100, binary version',
    subdir: 'cifar-100-binary',
    downloadSubdir: '',
    files: [
      { file: 'cifar-100-binary.tar.gz', url: `${TORONTO}/cifar-100-binary.tar.gz`, md5: '03b5dce01913d631647c71ecec9e9cb8', approxMiB: 161, extract: true },
    ],
    expect: ['train.bin', 'test.bin'],
  },
  svhn: {
    description: 'SVHN format 2 (32x32), train and test',
    subdir: 'svhn',
    downloadSubdir: 'svhn',
    files: [
      { file: 'train_32x32.mat', url: `${STANFORD}/train_32x32.mat`, md5: 'e26dedcc434d2e4c54c9b2d4a06d8373', approxMiB: 174, extract: false },
      { file: 'test_32x32.mat', url: `${STANFORD}/test_32x32.mat`, md5: 'eb5a983be6a315427106f1b3e3c6ce2b', approxMiB: 62, extract: false },
    ],
    expect: ['train_32x32.mat', 'test_32x32.mat'],
  },
  'svhn-extra': {
    description: 'SVHN format 2 (32x32), extra training images',
    subdir: 'svhn',
    downloadSubdir: 'svhn',
    files: [
      { file: 'extra_32x32.mat', url: `${STANFORD}/extra_32x32.mat`, md5: 'a93ce644f1a588dc4d68dda5feec44a7', approxMiB: 1268, extract: false },
    ],
    expect: ['extra_32x32.mat'],
  },
};

/**
 * Every downloadable data set name.
 *
 * @category Data
 */
export const DOWNLOADABLE_DATASETS = Object.keys(DATASET_SOURCES) as DownloadableDataset[];

/**
 * The published MD5 of every downloadable file, by file name. `downloadDataset` checks against this table
 * unless its `md5` option overrides entries.
 */
export const DATASET_MD5: Readonly<Record<string, string>> = Object.fromEntries(
  Object.values(DATASET_SOURCES).flatMap((s) => s.files.map((f) => [f.file, f.md5] as const)),
);

/**
 * The error for a data set that is not on disk: lists every path that was checked and how to get the files.
 * @param dataset - data set name (e.g. `cifar10`)
 * @param root - the data root that was searched
 * @param lookedFor - absolute paths that were checked
 */
export function missingDatasetError(dataset: DownloadableDataset, root: string, lookedFor: readonly string[]): DataError {
  const src = DATASET_SOURCES[dataset];
  const size = src.files.reduce((a, f) => a + f.approxMiB, 0);
  const urls = src.files.map((f) => f.url).join(', ');
  return new DataError(
    'ERR_DATA_NOT_FOUND',
    `${src.description} not found. Looked for:\n  ${lookedFor.join('\n  ')}\n` +
      `Get it with --download (CLI), { download: true } (loadDataset), or downloadDataset('${dataset}', ${JSON.stringify(path.resolve(root))}) ` +
      `— about ${size} MiB from ${urls}.`,
    { file: path.resolve(root) },
  );
}
