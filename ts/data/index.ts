/**
 * The data pipeline of the DenseNet SDK: readers (CIFAR-10/100, SVHN, image folders, embedded MNIST),
 * verified downloads, seeded splits and shuffling, augmentation, normalization and a prefetching batch loader.
 * Pure TypeScript; images are decoded with sharp.
 *
 * @example
 * ```ts
 * import { loadDataset, splitTrainValidation, DataLoader, DATASET_PRESETS } from './data/index.js';
 * const full = await loadDataset('cifar10', { root: 'data', download: true });
 * const { train, validation } = splitTrainValidation(full, { validationSize: 5000, seed: 0 });
 * const p = DATASET_PRESETS.cifar10;
 * const loader = new DataLoader(train, { batchSize: 64, seed: 1, augment: p.augmentation, normalization: p.normalization });
 * for await (const batch of loader) { ... }
 * ```
 *
 * @module
 */
export { DataError, type DataErrorCode, type DataErrorOptions } from './errors.js';
export {
  InMemoryDataset,
  SubsetDataset,
  concatDatasets,
  imageSize,
  type Dataset,
  type DatasetInfo,
  type Sample,
  type InMemoryDatasetInit,
} from './dataset.js';
export { Rng, type RngState } from './rng.js';
export { readTar, writeTar, type TarEntry, type TarInput } from './tar.js';
export { unpickle, pyGet, type PyValue, type PyKey, type NdArray } from './pickle.js';
export { readMat, type MatVariable, type MatClass, type ReadMatOptions } from './mat.js';
export {
  loadCifar10,
  loadCifar10Python,
  loadCifar100,
  parseCifarBinary,
  decodeCifarPythonBatch,
  CIFAR10_CLASSES,
  type Cifar10Options,
  type Cifar100Options,
  type CifarBinaryFormat,
  type TrainTest,
  type LabelledPixels,
} from './cifar.js';
export { loadSvhn, parseSvhnMat, SVHN_CLASSES, type SvhnOptions } from './svhn.js';
export { loadMnist, decodeMnistAsset, MNIST_ASSET_PATH, MNIST_CLASSES, type MnistOptions } from './mnist.js';
export { loadImageFolder, ImageFolderDataset, type ImageFolderOptions, type ImageFolderIndex } from './image-folder.js';
export {
  DATASET_SOURCES,
  DATASET_MD5,
  DOWNLOADABLE_DATASETS,
  missingDatasetError,
  type DownloadableDataset,
  type DatasetSource,
  type SourceFile,
} from './sources.js';
export {
  downloadDataset,
  downloadFile,
  extractTarGz,
  md5File,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
} from './download.js';
export {
  NORMALIZATION,
  resolveNormalization,
  computeNormalization,
  type Normalization,
  type NormalizationName,
} from './normalize.js';
export {
  CIFAR_AUGMENTATION,
  IMAGENET_AUGMENTATION,
  NO_AUGMENTATION,
  drawCropFlip,
  cropFlip,
  randomResizedCropBox,
  centerCropBox,
  type Augmentation,
  type CropAugmentation,
  type RandomResizedCropOptions,
  type CropFlip,
  type CropBox,
} from './augment.js';
export { splitIndices, splitTrainValidation, type SplitIndices, type SplitOptions, type TrainValidation } from './split.js';
export { DataLoader, assertLoaderState, shardRange, type LoaderSource, type Batch, type LoaderOptions, type LoaderShard, type LoaderState } from './loader.js';
export {
  loadDataset,
  defaultDataRoot,
  DATASET_NAMES,
  DATASET_PRESETS,
  type DatasetName,
  type DatasetPreset,
  type LoadDatasetOptions,
} from './registry.js';
