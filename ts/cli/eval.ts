/**
 * `densenet eval [--model w.safetensors] [--preset|--config …] [--dataset …] [--data DIR]`: top-1/top-5
 * error of a trained model on a test set, single-crop; for image folders also 10-crop (four corners
 * + center, and their flips). Without `--model`: the best model of the last `densenet train` (see
 * ./last-run.ts), on that run's data set.
 *
 * @module
 */
import { existsSync } from 'node:fs';

import { Option, type Command } from 'commander';

import { createConfig } from '../config.js';
import { DataError, InvalidArgumentError, IoError, ShapeError, WeightsError } from '../errors.js';
import { readWeightsInfo } from '../weights.js';
import type { EvalJson } from '../cli-types.js';
import { DenseNet, type DType } from '../model.js';
import { loadTrainingData, MNIST_DEFAULT_CONFIG, TRAIN_DATASET_NAMES, type TrainDatasetName } from '../train/data.js';
import { evaluate, evaluateTenCrop, type EvaluationResult } from '../train/evaluate.js';
import type { ImageFolderDataset } from '../data/index.js';
import { roundMetric, roundSeconds } from '../internal/round.js';
import { parseDevice, parsePositiveInt, resolveConfigArg, warn } from './common.js';
import { formatInt, plural } from './format.js';
import { displayPath, lastRunModel, LAST_RUN_FILE } from './last-run.js';

/** Options of the `eval` command. */
export interface EvalCommandOptions {
  /** Weights file; default: the best model of the last `densenet train`. */
  model?: string;
  /** Where to compute: `cpu` (default), `cuda` or `cuda:N`. */
  device?: 'cpu' | 'cuda' | `cuda:${number}`;
  preset?: string;
  config?: string;
  /** Default: the last run's data set when `--model` is not given, else `mnist`. */
  dataset?: TrainDatasetName;
  data?: string;
  download?: boolean;
  batchSize?: number;
  imageSize?: number;
  resize?: number;
  tenCrop?: boolean;
  dtype?: DType;
  json?: boolean;
  limit?: number;
}

function line(name: string, r: EvaluationResult): string {
  return (
    `${name}: top-1 error ${(r.top1Error * 100).toFixed(2)}% (${formatInt(r.images - r.correct)}/${formatInt(r.images)} wrong), ` +
    `top-5 error ${(r.top5Error * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)}s`
  );
}

/** An evaluation result with meaningful digits (errors and loss to 6 decimals, seconds to 0.01). */
function rounded(r: EvaluationResult): EvaluationResult {
  return { ...r, loss: roundMetric(r.loss), top1Error: roundMetric(r.top1Error), top5Error: roundMetric(r.top5Error), seconds: roundSeconds(r.seconds) };
}

/**
 * Runs `eval`.
 *
 * @param options - command options
 * @returns the printed results
 */
export async function runEval(options: EvalCommandOptions): Promise<EvalJson> {
  const opts: EvalCommandOptions & { model: string; dataset: TrainDatasetName } = { ...options, model: options.model ?? '', dataset: options.dataset ?? 'mnist' };
  if (options.model === undefined) {
    const run = lastRunModel('eval');
    opts.model = run.model;
    if (options.dataset === undefined && (TRAIN_DATASET_NAMES as readonly string[]).includes(run.dataset)) {
      opts.dataset = run.dataset as TrainDatasetName;
      if (options.data === undefined && run.data !== undefined) opts.data = run.data;
    }
    warn('eval', `using ${displayPath(run.model)}, the best model of the last \`densenet train\` (recorded in ${LAST_RUN_FILE}), on ${opts.dataset}`, 'note');
  }
  if (!existsSync(opts.model)) throw new IoError(`weights file not found: ${opts.model}`);
  if (opts.preset && opts.config) throw new InvalidArgumentError('give either --preset or --config, not both');
  const arg = opts.preset ?? opts.config;
  const info = readWeightsInfo(opts.model);
  const given = arg ? resolveConfigArg(arg).config : null;
  if (!given && !info.config && opts.dataset !== 'mnist') {
    throw new WeightsError(
      `${opts.model} carries no architecture (it was not saved by densenet-sdk): name it with --preset NAME or --config FILE`,
    );
  }
  const stored = info.preprocessing;
  const base = given ?? info.config;
  let imageSize = opts.imageSize ?? (stored ? Math.max(...stored.inputSize) : base?.smallInputs ? 32 : 224);
  if (stored && opts.imageSize !== undefined && (opts.imageSize !== stored.inputSize[0] || opts.imageSize !== stored.inputSize[1])) {
    warn('eval', `--image-size ${opts.imageSize} differs from the preprocessing stored with the model (input size ${stored.inputSize.join('x')}); using ${opts.imageSize}`);
    imageSize = opts.imageSize;
  }
  const data = await loadTrainingData(opts.dataset, {
    ...(opts.data !== undefined ? { root: opts.data } : {}),
    ...(opts.download ? { download: true } : {}),
    imageSize,
    testOnly: true,
    ...(stored?.classNames ? { classNames: stored.classNames } : {}),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
  });
  const test = data.test;
  if (!test) throw new InvalidArgumentError(`${opts.dataset} has no test images`);
  // The stored architecture as it is; a named one (or the default MNIST model) sized for the data.
  const config = !given && info.config ? null : createConfig(given ?? MNIST_DEFAULT_CONFIG, { numClasses: data.numClasses, inChannels: data.channels });
  const model = await DenseNet.load(opts.model, config, { dtype: opts.dtype ?? 'f32', ...(opts.device ? { device: opts.device } : {}) });
  try {
    if (model.config.numClasses !== data.numClasses) {
      throw new DataError(
        'ERR_DATA_LABEL_OUT_OF_RANGE',
        `${opts.dataset} has ${data.numClasses} classes but the model ${displayPath(opts.model)} predicts ${model.config.numClasses}; ` +
          'evaluate it on the data it was trained for',
      );
    }
    if (model.config.inChannels !== data.channels) {
      throw new ShapeError(
        `${opts.dataset} has ${data.channels}-channel images but the model ${displayPath(opts.model)} takes ${model.config.inChannels} channel${model.config.inChannels === 1 ? '' : 's'}; ` +
          'evaluate it on the data it was trained for',
      );
    }
    // The normalization the model was trained with (stored with the weights), else the data set's.
    const normalization = stored && stored.channels === data.channels ? { mean: stored.mean, std: stored.std } : data.normalization;
    const batchSize = opts.batchSize ?? 64;
    const single = await evaluate(model, test, { batchSize, normalization }).catch((e: unknown) => {
      // Any other misfit of the weights and the images (an input too small for the network, ...).
      if (e instanceof ShapeError) throw new ShapeError(`the model ${displayPath(opts.model)} does not fit ${opts.dataset}'s images: ${e.message}`, { cause: e });
      throw e;
    });
    const isFolder = 'kind' in test && test.kind === 'image-folder';
    if (opts.tenCrop && !isFolder) throw new InvalidArgumentError('10-crop evaluation applies to image folders (--dataset folder)');
    const resize = opts.resize ?? stored?.resize;
    if (stored?.resize !== undefined && opts.resize !== undefined && opts.resize !== stored.resize) {
      warn('eval', `--resize ${opts.resize} differs from the preprocessing stored with the model (resize ${stored.resize}); using ${opts.resize}`);
    }
    const ten =
      isFolder && opts.tenCrop !== false
        ? await evaluateTenCrop(model, test as ImageFolderDataset, {
            batchSize: Math.max(1, Math.floor(batchSize / 10)),
            normalization,
            ...(resize !== undefined ? { resize } : {}),
          })
        : null;
    const out: EvalJson = { model: opts.model, dataset: opts.dataset, images: single.images, singleCrop: rounded(single), tenCrop: ten && rounded(ten) };
    if (opts.json) {
      process.stdout.write(JSON.stringify(out) + '\n');
    } else {
      const lines = [`${displayPath(opts.model)} on ${opts.dataset} test (${plural(single.images, 'image')})`, line('single-crop', single)];
      if (ten) lines.push(line('10-crop', ten));
      process.stdout.write(lines.join('\n') + '\n');
    }
    return out;
  } finally {
    await model.dispose();
  }
}

/**
 * Registers the `eval` command.
 *
 * @param program - the root command
 */
export function registerEval(program: Command): Command {
  return program
    .command('eval')
    .showHelpAfterError('(densenet eval --help lists the options)')
    .description('top-1/top-5 error of trained weights on a test set (single-crop; image folders also 10-crop)')
    .option('--model <file>', `weights file (.safetensors, or a PyTorch .pth / .pt / .bin with --config); default: the best model of the last \`densenet train\` (${LAST_RUN_FILE})`)
    .option('--preset <name>', 'architecture preset of the weights (default for mnist: the `densenet train` model)')
    .option('--config <preset|file>', 'architecture config JSON file (or preset name)')
    .addOption(new Option('--dataset <name>', 'data set (default: that of the last run when --model is not given, else mnist)').choices(TRAIN_DATASET_NAMES as string[]))
    .option('--data <dir>', 'data root (cifar10/cifar100/svhn), or an image folder (DIR/val, DIR/test or DIR itself with class subfolders)')
    .option('--download', 'download a missing data set (CIFAR, SVHN)')
    .option('--batch-size <n>', 'images per forward pass (default 64)', parsePositiveInt)
    .option('--image-size <n>', 'image folders: crop size (default: stored with the model; else 224, or 32 for CIFAR-style models)', parsePositiveInt)
    .option('--resize <n>', 'image folders: shorter side before cropping (default: stored with the model, else size·256/224)', parsePositiveInt)
    .option('--ten-crop', 'image folders: also 10-crop (default)')
    .option('--no-ten-crop', 'image folders: single-crop only')
    .addOption(new Option('--dtype <dtype>', 'weight precision (default f32)').choices(['f32', 'f64']))
    .option('--device <device>', 'cpu (default), cuda or cuda:N (the CUDA build of the addon)', parseDevice)
    .option('--json', 'print JSON: {model, dataset, images, singleCrop, tenCrop}')
    .addOption(new Option('--limit <n>', 'evaluate only N test images').argParser(parsePositiveInt).hideHelp())
    .action(async (opts: EvalCommandOptions) => {
      await runEval(opts);
    });
}
