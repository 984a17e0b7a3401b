/**
 * Training, evaluation and plotting (the module's full surface; the package root exports the public part): {@link train} (the DenseNet paper's recipe with resumable
 * checkpoints), {@link evaluate} / {@link evaluateTenCrop}, `results.csv` helpers and {@link plotResults}.
 *
 * @module
 */
export {
  TrainAbortError,
  train,
  trainPaths,
  trainingPreprocessing,
  type TrainOptions,
  type TrainResult,
  type TrainPaths,
  type TrainEvent,
  type StartEvent,
  type BatchEvent,
  type EvaluateEvent,
  type EpochEvent,
  type CheckpointEvent,
  type WarningEvent,
  type UnfreezeEvent,
  type EndEvent,
  type BestRecord,
  type TrainCheckpointState,
  type EpochPartial,
} from './train.js';
export {
  REFERENCE_RECIPE,
  resolveRecipe,
  autoNormalization,
  learningRateAt,
  scheduleJson,
  type RecipeOptions,
  type TrainRecipe,
  type ScheduleName,
} from './options.js';
export {
  evaluate,
  evaluateTenCrop,
  writeTenCrops,
  countTopK,
  type EvaluateOptions,
  type TenCropOptions,
  type EvaluationResult,
} from './evaluate.js';
export {
  writeFileAtomic,
  writeFileAtomicAsync,
  writeJsonAtomic,
  writeJsonAtomicAsync,
  writeResultsCsv,
  writeResultsCsvAsync,
  readResultsCsv,
  parseResultsCsv,
  formatResultsCsv,
  RESULTS_HEADER,
  type EpochRecord,
} from './io.js';
export { plotResults, renderResultsSvg, writeResultsPlot, type PlotOptions } from './plot.js';
export {
  loadTrainingData,
  TRAIN_DATASET_NAMES,
  MNIST_DEFAULT_CONFIG,
  MNIST_TEST_SIZE,
  MNIST_TEST_SEED,
  type TrainDatasetName,
  type TrainingData,
  type TrainingDataOptions,
  type DatasetDefaults,
} from './data.js';
