/**
 * densenet-sdk: train and run memory-efficient DenseNets from TypeScript on a Rust core.
 *
 * The package root exports the public API only, in these groups: **Model** (create, load,
 * predict, save, configs and presets), **Data** (data sets, downloads, augmentation, the batch
 * loader), **Training** (the training loop, evaluation, results and plots), **Errors** (one
 * typed error per code), **CLI output** (the JSON the `densenet` command prints) and **Native
 * addon** (loading the compute core). Importing it loads nothing heavy: the native addon and the
 * image library (sharp) are loaded on first use.
 *
 * @example
 * ```ts
 * import { DenseNet } from 'densenet-sdk';
 * const model = await DenseNet.load('runs/mnist/best.safetensors'); // architecture and preprocessing stored in the file
 * const out = await model.predictImages(['digit.png']);
 * console.log(out.topK(3));
 * ```
 *
 * @packageDocumentation
 */

// ---- Errors ----
export {
  AbortError,
  ConfigError,
  DataError,
  DenseNetError,
  DTypeError,
  ImageError,
  InternalError,
  InvalidArgumentError,
  IoError,
  LabelError,
  MemoryError,
  DeviceError,
  NativeLoadError,
  NonFiniteError,
  ShapeError,
  WeightsError,
  type DataErrorOptions,
  type DenseNetErrorOptions,
  type NativeLoadAttempt,
} from './errors/classes.js';
export {
  DATA_ERROR_CODES,
  ERROR_CODES,
  NATIVE_ERROR_CODES,
  type DataErrorCode,
  type ErrorCode,
  type NativeErrorCode,
} from './errors/codes.js';
export { isAbortError } from './errors/abort.js';

// ---- Model ----
export {
  PRESET_NAMES,
  cifarConfig,
  createConfig,
  presetConfig,
  type CifarConfigOptions,
  type ConfigInput,
  type ModelConfig,
  type ModelConfigInput,
  type PresetName,
} from './config.js';
export { DenseNet } from './model.js';
export { estimateMemory } from './model/memory.js';
export { Prediction, type TopKEntry } from './model/prediction.js';
export { imagesToTensor, type ImageOptions, type ImageTensor, type ImagesToTensorOptions } from './model/images.js';
export type { PredictImagesOptions } from './model/image-preprocessing.js';
export {
  MEMORY_MODES,
  type CallOptions,
  type CreateOptions,
  type DType,
  type EvalStepResult,
  type LoadOptions,
  type MemoryMode,
  type ModelSummary,
  type OptimizerOptions,
  type SaveOptions,
  type Shape4,
  type StageSummary,
  type TrainStepOptions,
  type TrainStepResult,
} from './model/types.js';
export {
  FROZEN_BATCH_NORM_MODES,
  type FreezeSpec,
  type FrozenBatchNormMode,
  type ParamGroupOptions,
  type ParameterInfo,
  type ResetClassifierOptions,
} from './finetune.js';
export { readWeightsInfo, type Preprocessing, type WeightsInfo } from './weights.js';
export { ONNX_DEFAULT_OPSET, ONNX_MAX_OPSET, ONNX_MIN_OPSET, type ExportOnnxOptions, type OnnxExportInfo } from './onnx/options.js';
export type { MemoryEstimate } from './native-binding.js';

// ---- Native addon ----
export {
  loadNative,
  loadNativeWithInfo,
  setNumThreads,
  type BackendChoice,
  type LoadNativeOptions,
  type LoadedNative,
  type NativeInfo,
} from './native.js';
export { mpiEnvironment, type MpiEnvironment } from './native-platform.js';
export type { NativeBinding, NativeEvalResult, NativeModel, NativeModelConstructor, NativeStepResult } from './native-binding.js';

// ---- Data ----
export {
  InMemoryDataset,
  SubsetDataset,
  concatDatasets,
  type Dataset,
  type DatasetInfo,
  type InMemoryDatasetInit,
  type Sample,
} from './data/dataset.js';
export {
  CIFAR10_CLASSES,
  loadCifar10,
  loadCifar10Python,
  loadCifar100,
  type Cifar10Options,
  type Cifar100Options,
  type TrainTest,
} from './data/cifar.js';
export { SVHN_CLASSES, loadSvhn, type SvhnOptions } from './data/svhn.js';
export { MNIST_CLASSES, loadMnist, type MnistOptions } from './data/mnist.js';
export { ImageFolderDataset, loadImageFolder, type ImageFolderOptions } from './data/image-folder.js';
export { DOWNLOADABLE_DATASETS, type DownloadableDataset } from './data/sources.js';
export { downloadDataset, type DownloadOptions, type DownloadProgress, type DownloadResult } from './data/download.js';
export { NORMALIZATION, computeNormalization, type Normalization, type NormalizationName } from './data/normalize.js';
export {
  CIFAR_AUGMENTATION,
  IMAGENET_AUGMENTATION,
  NO_AUGMENTATION,
  type Augmentation,
  type CropAugmentation,
  type CropBox,
  type RandomResizedCropOptions,
} from './data/augment.js';
export { splitTrainValidation, type SplitOptions, type TrainValidation } from './data/split.js';
export { DataLoader, shardRange, type Batch, type LoaderOptions, type LoaderShard, type LoaderSource, type LoaderState } from './data/loader.js';
export {
  DATASET_NAMES,
  DATASET_PRESETS,
  defaultDataRoot,
  loadDataset,
  type DatasetName,
  type DatasetPreset,
  type LoadDatasetOptions,
} from './data/registry.js';

// ---- Training ----
export { train, trainingPreprocessing, type TrainOptions } from './train/train.js';
export { TrainAbortError } from './train/abort.js';
export { trainPaths, type BestRecord, type TrainPaths, type TrainResult } from './train/results.js';
export type { EpochPartial, TrainCheckpointState } from './train/checkpoint.js';
export type {
  BatchEvent,
  CheckpointEvent,
  EndEvent,
  EpochEvent,
  EvaluateEvent,
  StartEvent,
  TrainEvent,
  UnfreezeEvent,
  WarningEvent,
} from './train/events.js';
export { allReduceSum, barrier, distributedWorld, type DistributedWorld } from './distributed.js';
export {
  REFERENCE_RECIPE,
  learningRateAt,
  resolveRecipe,
  type RecipeOptions,
  type ScheduleName,
  type TrainRecipe,
} from './train/options.js';
export {
  evaluate,
  evaluateTenCrop,
  type EvaluateOptions,
  type EvaluationResult,
  type TenCropOptions,
} from './train/evaluate.js';
export { RESULTS_HEADER, parseResultsCsv, readResultsCsv, type EpochRecord } from './train/io.js';
export { plotResults, renderResultsSvg, writeResultsPlot, type PlotOptions } from './train/plot.js';
export {
  MNIST_DEFAULT_CONFIG,
  MNIST_TEST_SEED,
  MNIST_TEST_SIZE,
  TRAIN_DATASET_NAMES,
  loadTrainingData,
  type DatasetDefaults,
  type TrainDatasetName,
  type TrainingData,
  type TrainingDataOptions,
} from './train/data.js';

// ---- CLI output ----
export type { EvalJson, InfoJson, PredictJsonEntry, TrainJsonEpoch, TrainJsonResult } from './cli-types.js';
