/**
 * `densenet train`: trains a DenseNet with the paper's recipe, with a progress bar (TTY), one plain
 * line per epoch (no TTY) or one JSON line per epoch (`--json`), resumable checkpoints and Ctrl-C
 * handling. With no arguments it trains a small DenseNet-BC on the embedded MNIST digits.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { InvalidArgumentError as CommanderArgError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';

import { createConfig, type ModelConfig } from '../config.js';
import { distributedWorld } from '../distributed.js';
import { InvalidArgumentError } from '../errors.js';
import { roundLr, roundMetric, roundRate, roundSeconds, roundShare } from '../internal/round.js';
import { DenseNet, MEMORY_MODES, type DType, type MemoryMode } from '../model.js';
import { loadTrainingData, TRAIN_DATASET_NAMES, type TrainDatasetName, type TrainingData } from '../train/data.js';
import { makeDirectory, writeJsonAtomic } from '../train/io.js';
import type { TrainJsonEpoch, TrainJsonResult } from '../cli-types.js';
import { TrainAbortError, train, trainPaths, type BatchEvent, type EpochEvent, type TrainEvent, type TrainOptions, type TrainResult } from '../train/train.js';
import { resolveRecipe, type TrainRecipe } from '../train/options.js';
import { readWeightsInfo } from '../weights.js';
import { callNative, loadNative, setNumThreads } from '../native.js';
import { parseDevice, parseNumberList, parsePositiveInt, resolveConfigArg } from './common.js';
import { epochTableHeader, formatDuration, formatEpochRow, formatInt, pct, plural, progressLine, terminalColumns, type ProgressState } from './format.js';
import { displayPath, LAST_RUN_FILE, recordLastRun } from './last-run.js';

/** Options of the `train` command (after parsing). */
export interface TrainCommandOptions {
  dataset: TrainDatasetName;
  data?: string;
  download?: boolean;
  preset?: string;
  config?: string;
  epochs?: number;
  batchSize?: number;
  evalBatchSize?: number;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule?: 'multistep' | 'cosine';
  milestones?: number[];
  gamma?: number;
  validationSize?: number;
  augment?: boolean;
  seed?: number;
  threads?: number;
  dtype?: DType;
  device?: 'cpu' | 'cuda' | `cuda:${number}`;
  memoryMode?: MemoryMode;
  imageSize?: number;
  out?: string;
  resume?: boolean;
  force?: boolean;
  json?: boolean;
  limit?: number;
  syncBn?: boolean;
  /** Fine-tuning: weights to start from (safetensors or PyTorch); the classifier is replaced when the class count differs. */
  initFrom?: string;
  /** Fine-tuning: parameters frozen from the start (name prefixes or stages). */
  freeze?: string[];
  /** Fine-tuning: lr of the feature extractor (`features`); the classifier keeps `--lr`. */
  backboneLr?: number;
  /** Fine-tuning: the epoch from which `--freeze`'s parameters train again. */
  unfreezeAt?: number;
}

/** The file in the output directory that records the command's options, so that `--resume` needs only `--out`. */
export const CLI_OPTIONS_FILE = 'train-options.json';

/** Option keys restored from {@link CLI_OPTIONS_FILE} on `--resume` unless given again on the command line. */
const STORED_KEYS = [
  'syncBn',
  'dataset',
  'data',
  'preset',
  'config',
  'epochs',
  'batchSize',
  'evalBatchSize',
  'lr',
  'momentum',
  'nesterov',
  'weightDecay',
  'schedule',
  'milestones',
  'gamma',
  'validationSize',
  'augment',
  'seed',
  'dtype',
  'memoryMode',
  'imageSize',
  'limit',
  'initFrom',
  'freeze',
  'backboneLr',
  'unfreezeAt',
] as const;

function parseNonNegInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new CommanderArgError('must be an integer >= 0.');
  return n;
}

function parseSpecList(value: string): string[] {
  const list = value.split(',').map((v) => v.trim());
  if (list.some((v) => v === '')) throw new CommanderArgError('must be a comma-separated list of parameter name prefixes or stages, e.g. features or stem,block1,block2.');
  return list;
}

function parseNonNegNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new CommanderArgError('must be a number >= 0.');
  return n;
}

/** One row of the per-epoch table (the text output; at most 100 columns). */
export function formatEpochLine(e: EpochEvent): string {
  const r = e.record;
  return formatEpochRow({
    epoch: r.epoch,
    epochs: e.epochs,
    trainLoss: r.trainLoss,
    trainError: r.trainError,
    validLoss: r.validLoss,
    validError: r.validError,
    testError: r.testError,
    lr: e.lr,
    seconds: e.trainSeconds + e.evalSeconds,
    imagesPerSecond: e.imagesPerSecond,
    dataShare: e.dataShare,
    isBest: e.isBest,
  });
}

/** The JSON line of an epoch (`--json`): camelCase, rounded like `summary.json`. */
export function epochJson(e: EpochEvent): TrainJsonEpoch {
  const r = e.record;
  return {
    type: 'epoch',
    epoch: r.epoch,
    epochs: e.epochs,
    trainLoss: roundMetric(r.trainLoss),
    trainError: roundMetric(r.trainError),
    validLoss: roundMetric(r.validLoss),
    validError: roundMetric(r.validError),
    testError: roundMetric(r.testError),
    lr: roundLr(e.lr),
    trainSeconds: roundSeconds(e.trainSeconds),
    evalSeconds: roundSeconds(e.evalSeconds),
    imagesPerSecond: roundRate(e.imagesPerSecond),
    dataShare: roundShare(e.dataShare),
    bestEpoch: e.best?.epoch ?? null,
    isBest: e.isBest,
  };
}

/** The last JSON line of `train --json`. */
export function resultJson(result: TrainResult, outDir: string): TrainJsonResult {
  return {
    type: 'result',
    aborted: result.aborted,
    epochsCompleted: result.epochsCompleted,
    epochs: result.epochs,
    bestEpoch: result.best?.epoch ?? null,
    bestValidError: roundMetric(result.best?.validError ?? null),
    testError: roundMetric(result.testError),
    seconds: roundSeconds(result.seconds),
    totalSeconds: roundSeconds(result.totalSeconds),
    imagesPerSecond: roundRate(result.imagesPerSecond),
    dataShare: roundShare(result.dataShare),
    out: outDir,
    checkpoint: result.paths.checkpoint,
  };
}

/** The start lines of a fine-tuning run: where the weights came from, what is frozen, the groups' lr. */
function fineTuneLines(opts: TrainCommandOptions, recipe: TrainRecipe, model: DenseNet): string[] {
  const lines: string[] = [];
  if (opts.initFrom !== undefined) lines.push(`initialized from ${displayPath(resolve(opts.initFrom))} (${model.numClasses}-class classifier)`);
  const trainable = model.trainableParameterCount;
  if (trainable < model.parameterCount || recipe.freeze.length > 0) {
    lines.push(
      `trainable ${formatInt(trainable)} of ${formatInt(model.parameterCount)} parameters` +
        (recipe.freeze.length > 0 ? `; frozen: ${recipe.freeze.join(', ')}` : '') +
        (recipe.unfreezeAt !== null ? ` (until epoch ${recipe.unfreezeAt})` : ''),
    );
  }
  for (const g of recipe.paramGroups) {
    lines.push(`group ${g.name} (${g.prefixes.join(', ')}): lr ${g.lr ?? recipe.lr}${g.weightDecay !== undefined ? `, wd ${g.weightDecay}` : ''}, scaled by the schedule`);
  }
  return lines;
}

function describeModel(c: ModelConfig): string {
  const kind = c.bottleneck ? (c.compression < 1 ? 'DenseNet-BC' : 'DenseNet-B') : c.compression < 1 ? 'DenseNet-C' : 'DenseNet';
  return `${kind} k=${c.growthRate} blocks ${c.blockConfig.join('-')}${c.smallInputs ? '' : ' (ImageNet stem)'}`;
}

/**
 * Progress output: on a terminal a one-line progress bar fitted to its width (see
 * {@link progressLine}) and the per-epoch table; when stdout is not a terminal only the table;
 * with `--json` only JSON lines.
 */
class Reporter {
  readonly #json: boolean;
  readonly #tty: boolean;
  #bar: cliProgress.SingleBar | null = null;
  #state: ProgressState | null = null;

  readonly #quiet: boolean;

  /** @param quiet - print nothing (the ranks other than 0 of a data-parallel job) */
  constructor(json: boolean, quiet = false) {
    this.#json = json;
    this.#quiet = quiet;
    this.#tty = !json && !quiet && !!process.stdout.isTTY;
  }

  info(line: string): void {
    if (this.#json || this.#quiet) return;
    this.#stopBar();
    process.stdout.write(line + '\n');
  }

  warn(line: string): void {
    if (this.#quiet) return;
    this.#stopBar();
    process.stderr.write(`densenet train: ${line}\n`);
  }

  json(obj: unknown): void {
    if (this.#json && !this.#quiet) process.stdout.write(JSON.stringify(obj) + '\n');
  }

  batch(e: BatchEvent): void {
    this.#show({
      epoch: e.epoch,
      epochs: e.epochs,
      value: e.batch,
      total: e.batches,
      loss: e.epochLoss,
      error: e.epochError,
      imagesPerSecond: e.imagesPerSecond,
      etaSeconds: e.etaSeconds,
    });
  }

  evaluating(set: 'validation' | 'test', done: number, total: number): void {
    if (!this.#state) return;
    this.#show({ ...this.#state, evaluating: set, value: done, total });
  }

  #show(state: ProgressState): void {
    if (!this.#tty) return;
    this.#state = state;
    if (!this.#bar) {
      this.#bar = new cliProgress.SingleBar({
        // The whole line is ours: laid out for the terminal's width at every redraw (resizes too).
        format: () => (this.#state ? progressLine(this.#state, terminalColumns(process.stdout)) : ''),
        hideCursor: true,
        clearOnComplete: true,
        stopOnComplete: false,
        linewrap: false,
        stream: process.stdout,
        fps: 5,
      });
      this.#bar.start(state.total, state.value);
    } else {
      this.#bar.update(state.value);
    }
  }

  #stopBar(): void {
    if (this.#bar) {
      this.#bar.stop();
      this.#bar = null;
    }
  }

  close(): void {
    this.#stopBar();
  }
}

/** The options a run was started with; a missing or unreadable file is an error (nothing is rewritten). */
function readStoredOptions(outDir: string): Partial<TrainCommandOptions> {
  const file = join(outDir, CLI_OPTIONS_FILE);
  if (!existsSync(file)) {
    throw new InvalidArgumentError(`--resume: ${file} is missing, so the run's options are unknown; restore it, or start over with --force`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`--resume: ${file} is not valid JSON (${(err as Error).message}); restore it, or start over with --force`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`--resume: ${file} must hold a JSON object of options; restore it, or start over with --force`);
  }
  return parsed as Partial<TrainCommandOptions>;
}

/**
 * Runs `densenet train`.
 *
 * @param given - parsed options
 * @param fromCli - which options were given on the command line (the others may come from a resumed run)
 * @returns the training result (`aborted: true` after Ctrl-C; the exit code is then 130)
 */
export async function runTrain(given: TrainCommandOptions, fromCli: (key: string) => boolean = () => true): Promise<TrainResult> {
  let opts: TrainCommandOptions = { ...given };
  const outDir = resolve(opts.out ?? join('runs', opts.dataset));
  const paths = trainPaths(outDir);
  if (opts.resume) {
    if (!existsSync(paths.checkpoint)) {
      throw new InvalidArgumentError(`--resume: ${outDir} holds no training run to resume (no ${paths.checkpoint}); start it without --resume`);
    }
    const stored = readStoredOptions(outDir);
    for (const key of STORED_KEYS) {
      if (!fromCli(key) && stored[key] !== undefined) (opts as unknown as Record<string, unknown>)[key] = stored[key];
    }
  } else if (existsSync(paths.checkpoint) && !opts.force) {
    throw new InvalidArgumentError(
      `${outDir} already holds a training run; continue it with --resume, start over with --force, or choose another --out DIR`,
    );
  }
  if (opts.preset && opts.config) throw new InvalidArgumentError('give either --preset or --config, not both');
  if (!TRAIN_DATASET_NAMES.includes(opts.dataset)) {
    throw new InvalidArgumentError(`unknown dataset "${opts.dataset}"; known: ${TRAIN_DATASET_NAMES.join(', ')}`);
  }

  // Option checks before any data is read or any folder is touched: the optimizer values
  // (validated by the native core) and the thread count.
  const optimizer = Object.fromEntries((['lr', 'momentum', 'nesterov', 'weightDecay'] as const).filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
  callNative(() => loadNative().normalizeOptimizer(JSON.stringify(optimizer)));
  if (opts.threads !== undefined) setNumThreads(opts.threads);

  // Model config first (an image folder's input size follows the model's stem), then the data.
  const modelArg = opts.preset ?? opts.config;
  // --init-from: its header is read now (a missing or broken file is refused before any data is read).
  const init = opts.initFrom !== undefined ? readWeightsInfo(opts.initFrom) : null;
  if (init && !modelArg && !init.config) {
    throw new InvalidArgumentError(
      `--init-from ${opts.initFrom}: the file stores no model config (${init.format === 'safetensors' ? 'a safetensors file without densenet.config' : 'a PyTorch file'}); name its architecture with --preset (e.g. densenet121) or --config`,
    );
  }
  const base = modelArg ? resolveConfigArg(modelArg).config : (init?.config ?? null);
  const imageSize = opts.imageSize ?? init?.preprocessing?.inputSize[0] ?? (base?.smallInputs ? 32 : 224);
  const data: TrainingData = await loadTrainingData(opts.dataset, {
    ...(opts.data !== undefined ? { root: opts.data } : {}),
    ...(opts.download ? { download: true } : {}),
    imageSize,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
  });
  const d = data.defaults;
  const config = createConfig(base ?? d.model, { numClasses: data.numClasses, inChannels: data.channels });
  const modelName = opts.preset ?? opts.config ?? (typeof d.model === 'string' ? d.model : `default ${data.name} model`);

  const modelOptions = { dtype: opts.dtype ?? 'f32', ...(opts.device ? { device: opts.device } : {}) } as const;
  let model: DenseNet;
  if (init && opts.initFrom !== undefined) {
    const inputChannels = init.tensorShapes['features.conv0.weight']?.[1];
    if (inputChannels !== undefined && inputChannels !== data.channels) {
      throw new InvalidArgumentError(
        `--init-from ${opts.initFrom}: its weights take ${plural(inputChannels, 'input channel')}, the ${data.name} images have ${data.channels}`,
      );
    }
    // The features and BN statistics of the file; a new classifier (seeded by --seed) when the class count differs.
    model = await DenseNet.load(opts.initFrom, config, { ...modelOptions, numClasses: data.numClasses, headSeed: opts.seed ?? 0 });
  } else {
    model = DenseNet.create(config, { ...modelOptions, seed: opts.seed ?? 0 });
  }
  if (opts.memoryMode) model.setMemoryMode(opts.memoryMode);
  if (opts.threads !== undefined) model.setThreads(opts.threads);

  const epochs = opts.epochs ?? d.epochs;
  const augment = opts.augment ?? data.augmentByDefault;
  // Under mpirun every rank runs this command; rank 0 prints and writes the files.
  const lead = (distributedWorld()?.rank ?? 0) === 0;
  const reporter = new Reporter(!!opts.json, !lead);

  const trainOptions: TrainOptions = {
    trainSet: data.train,
    testSet: data.test,
    outDir,
    epochs,
    schedule: opts.schedule ?? d.schedule,
    ...(opts.lr !== undefined ? { lr: opts.lr } : {}),
    ...(opts.milestones !== undefined
      ? { milestones: opts.milestones }
      : d.milestoneFractions && (opts.schedule ?? d.schedule) === 'multistep'
        ? { milestones: d.milestoneFractions.map((f) => f * epochs) }
        : {}),
    // The data set's default hold-out, or a tenth of the images for small subsets (--limit).
    validationSize: opts.validationSize ?? (d.validationSize < data.train.length / 2 ? d.validationSize : Math.floor(data.train.length / 10)),
    augment: augment ? data.augmentation : false,
    normalization: data.normalization,
    seed: opts.seed ?? 0,
    resume: !!opts.resume,
    ...(opts.syncBn ? { syncBatchNorm: true } : {}),
    // Under mpirun train() splits the cores between the ranks of a node unless told otherwise.
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    ...(opts.evalBatchSize !== undefined ? { evalBatchSize: opts.evalBatchSize } : {}),
    ...(opts.momentum !== undefined ? { momentum: opts.momentum } : {}),
    ...(opts.nesterov !== undefined ? { nesterov: opts.nesterov } : {}),
    ...(opts.weightDecay !== undefined ? { weightDecay: opts.weightDecay } : {}),
    ...(opts.gamma !== undefined ? { gamma: opts.gamma } : {}),
    ...(opts.freeze !== undefined ? { freeze: opts.freeze } : {}),
    ...(opts.unfreezeAt !== undefined ? { unfreezeAt: opts.unfreezeAt } : {}),
    ...(opts.backboneLr !== undefined ? { paramGroups: [{ name: 'backbone', prefixes: ['features'], lr: opts.backboneLr }] } : {}),
  };
  // The recipe's checks that need the data (validation size, milestones against the epochs) come
  // before the output folder is created.
  resolveRecipe(trainOptions, data.train, false);

  if (lead) {
    makeDirectory(outDir);
    writeJsonAtomic(
      join(outDir, CLI_OPTIONS_FILE),
      Object.fromEntries(STORED_KEYS.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]])),
    );
  }

  let recorded = false;
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      reporter.warn('interrupted: stopping after this batch and writing a checkpoint (Ctrl-C again to quit now)');
      ac.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const onEvent = (e: TrainEvent): void => {
    switch (e.type) {
      case 'start': {
        const parts = [
          `${modelName}: ${describeModel(config)}, ${formatInt(model.parameterCount)} parameters`,
          `data ${data.name}: ${formatInt(e.trainSize)} train / ${formatInt(e.validationSize)} valid / ${formatInt(e.testSize)} test`,
          `${plural(e.recipe.epochs, 'epoch')}, batch ${e.recipe.batchSize}, lr ${e.recipe.lr} ${e.recipe.schedule}` +
            (e.recipe.schedule === 'multistep' ? ` (÷${Math.round(1 / e.recipe.gamma)} at ${e.recipe.milestones.join(', ')})` : '') +
            `, ${e.recipe.nesterov ? 'Nesterov ' : ''}momentum ${e.recipe.momentum}, wd ${e.recipe.weightDecay}, augment ${augment ? 'on' : 'off'}`,
          ...fineTuneLines(opts, e.recipe, model),
          `output ${displayPath(e.outDir)}` + (e.resumed ? ` (resumed at epoch ${e.startEpoch + 1}, batch ${e.startBatch})` : ''),
        ];
        reporter.info(parts.join('\n'));
        reporter.info(epochTableHeader(e.recipe.epochs));
        break;
      }
      case 'batch':
        reporter.batch(e);
        break;
      case 'evaluate':
        reporter.evaluating(e.set, e.done, e.total);
        break;
      case 'epoch':
        reporter.info(formatEpochLine(e));
        reporter.json(epochJson(e));
        if (!recorded) {
          // best.safetensors exists now: this run's model becomes the default of eval and predict.
          recorded = true;
          try {
            recordLastRun({ outDir, dataset: opts.dataset, ...(opts.data !== undefined ? { data: opts.data } : {}) });
          } catch (err) {
            // Training goes on; only the default of eval/predict is missing.
            reporter.warn(`warning: could not record this run in ${LAST_RUN_FILE} (${(err as Error).message}); eval and predict will need --model`);
          }
        }
        break;
      case 'warning':
        reporter.warn(e.message);
        break;
      case 'unfreeze':
        reporter.info(`epoch ${e.epoch + 1}: ${e.specs.join(', ')} train again; ${formatInt(e.trainableParameters)} trainable parameters`);
        break;
      default:
        break;
    }
  };

  let result: TrainResult;
  try {
    result = await train(model, { ...trainOptions, signal: ac.signal, onEvent });
  } catch (err) {
    if (!(err instanceof TrainAbortError)) throw err;
    result = err.result;
  } finally {
    reporter.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }

  reporter.json(resultJson(result, outDir));
  const time =
    result.totalSeconds - result.seconds > 0.005
      ? `${formatDuration(result.totalSeconds)} in all (this session ${formatDuration(result.seconds)})`
      : formatDuration(result.seconds);
  if (result.aborted) {
    const done = result.epochsCompleted;
    reporter.warn(
      `stopped after ${plural(done, 'complete epoch')} of ${result.epochs} (${time}); checkpoint ${displayPath(result.paths.checkpoint)}\n` +
        `continue with: densenet train --resume --out ${displayPath(outDir)}`,
    );
    process.exitCode = 130;
  } else {
    const b = result.best;
    reporter.info(
      [
        b
          ? `best epoch ${b.epoch}` +
            (b.validError !== null ? `: valid error ${pct(b.validError)}` : ' (no validation set: the last epoch)') +
            (b.testError !== null ? `, test error ${pct(b.testError)} (accuracy ${((1 - b.testError) * 100).toFixed(2)}%)` : '')
          : 'no epoch completed',
        `${plural(result.epochsCompleted, 'epoch')} in ${time}, ${formatInt(result.imagesPerSecond)} img/s, ` +
          `waiting for data ${(result.dataShare * 100).toFixed(2)}% of step time`,
        `files in ${displayPath(outDir)}: results.csv, best.safetensors (the default of eval/predict), final.safetensors`,
      ].join('\n'),
    );
  }
  return result;
}

/**
 * Registers the `train` command.
 *
 * @param program - the root command
 */
export function registerTrain(program: Command): Command {
  const cmd = program
    .command('train')
    .showHelpAfterError('(densenet train --help lists the options)')
    .description(
      'train a DenseNet with the paper\'s recipe (SGD, Nesterov 0.9, wd 1e-4, batch 64, lr 0.1 ÷10 at 50%/75%).\n' +
        'With no options: a small DenseNet-BC on the embedded MNIST digits (8,000 train / 2,000 test), a few minutes on 2 cores.\n' +
        'CPU threads: the global option, e.g. `densenet train --threads 4`.',
    )
    .addOption(new Option('--dataset <name>', 'data set').choices(TRAIN_DATASET_NAMES as string[]).default('mnist'))
    .option('--data <dir>', 'data root (cifar10/cifar100/svhn; default $DENSENET_DATA or ~/.cache/densenet/data), or the image folder (DIR/train, DIR/val)')
    .option('--download', 'download a missing data set (CIFAR, SVHN)')
    .option('--preset <name>', 'model preset (default: densenet-bc-100; for mnist a small DenseNet-BC)')
    .option('--config <preset|file>', 'model config JSON file (or preset name)')
    .option('--epochs <n>', 'epochs (default 300; svhn 40; mnist 15; folder 90)', parsePositiveInt)
    .option('--batch-size <n>', 'mini-batch size (default 64; under mpirun the global batch, split between the processes)', parsePositiveInt)
    .option('--eval-batch-size <n>', 'mini-batch size of validation/test passes (default: --batch-size)', parsePositiveInt)
    .option('--lr <x>', 'initial learning rate (default 0.1)', parseNonNegNumber)
    .option('--momentum <x>', 'momentum (default 0.9)', parseNonNegNumber)
    .option('--nesterov', 'Nesterov momentum (default)')
    .option('--no-nesterov', 'plain momentum')
    .option('--weight-decay <x>', 'weight decay (default 1e-4)', parseNonNegNumber)
    .addOption(new Option('--schedule <name>', 'lr schedule (default multistep; mnist cosine)').choices(['multistep', 'cosine']))
    .option('--milestones <list>', 'multistep milestones in epochs, e.g. 150,225 (default 50% and 75% of the epochs)', parseNumberList)
    .option('--gamma <x>', 'multistep factor (default 0.1)', parseNonNegNumber)
    .option('--validation-size <n>', 'training images held out for validation (default 5000; mnist 1000; folder 0)', parseNonNegInt)
    .option('--augment', 'data augmentation: crop + flip (CIFAR), shifts (MNIST, SVHN), random-resized crop + flip (folder)')
    .option('--no-augment', 'no data augmentation (default for svhn)')
    .option('--seed <n>', 'seed of the weights, the validation split, the batch order and the augmentation (default 0)', parseNonNegInt)
    .addOption(new Option('--dtype <dtype>', 'weight precision (default f32)').choices(['f32', 'f64']))
    .addOption(new Option('--memory-mode <mode>', 'efficient (default) or naive').choices(MEMORY_MODES as string[]))
    .option('--device <device>', 'cpu (default), cuda or cuda:N (the CUDA build of the addon)', parseDevice)
    .option('--image-size <n>', 'image folders: input size (default 224, or 32 for CIFAR-style models)', parsePositiveInt)
    .option('--out <dir>', 'output directory (default runs/<dataset>)')
    .option('--resume', 'continue the run in --out from its checkpoint (options default to the stored ones)')
    .option('--force', 'start over even if --out holds a run')
    .option('--json', 'print one JSON line per epoch (and a final result line) instead of text')
    .option('--sync-bn', 'under mpirun: batch-norm statistics over the global batch (default: per process)')
    .option('--init-from <weights>', 'fine-tune: start from these weights (.safetensors, or PyTorch .pth with --preset); a new classifier when the class count differs')
    .option('--freeze <list>', 'fine-tune: freeze these from the start: stages (stem, block1.., transition1.., norm5, features, classifier) or name prefixes, comma-separated', parseSpecList)
    .option('--backbone-lr <x>', 'fine-tune: initial lr of the feature extractor (the classifier keeps --lr); the schedule scales both', parseNonNegNumber)
    .option('--unfreeze-at <epoch>', 'fine-tune: the --freeze parameters train again after this many epochs', parsePositiveInt)
    .addOption(new Option('--limit <n>', 'use only N training (and at most N test) images').argParser(parsePositiveInt).hideHelp())
    .action(async (_opts: TrainCommandOptions, command: Command) => {
      const all = command.optsWithGlobals<TrainCommandOptions>();
      await runTrain(all, (key) => {
        const src = command.getOptionValueSource(key);
        return src === 'cli' || src === 'env';
      });
    });
  return cmd;
}
