/**
 * `densenet eval --model w.safetensors --preset|--config … --dataset … [--data DIR]`: top-1/top-5
 * error of a trained model on a test set, single-crop; for image folders also 10-crop (four corners
 * + center, and their flips).
 *
 * @module
 */
import { existsSync } from 'node:fs';

import { Option, type Command } from 'commander';

import { createConfig } from '../config.js';
import { InvalidArgumentError, IoError } from '../errors.js';
import { DenseNet, type DType } from '../model.js';
import { loadTrainingData, MNIST_DEFAULT_CONFIG, TRAIN_DATASET_NAMES, type TrainDatasetName } from '../train/data.js';
import { evaluate, evaluateTenCrop, type EvaluationResult } from '../train/evaluate.js';
import type { ImageFolderDataset } from '../data/index.js';
import { formatInt, parsePositiveInt, configFromWeights, resolveConfigArg } from './common.js';

/** Options of the `eval` command. */
export interface EvalCommandOptions {
  model: string;
  preset?: string;
  config?: string;
  dataset: TrainDatasetName;
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

/** What `densenet eval --json` prints. */
export interface EvalJson {
  dataset: string;
  images: number;
  /** Single-crop results (errors are fractions). */
  singleCrop: EvaluationResult;
  /** 10-crop results (image folders). */
  tenCrop: EvaluationResult | null;
}

function line(name: string, r: EvaluationResult): string {
  return (
    `${name}: top-1 error ${(r.top1Error * 100).toFixed(2)}% (${formatInt(r.images - r.correct)}/${formatInt(r.images)} wrong), ` +
    `top-5 error ${(r.top5Error * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)}s`
  );
}

/**
 * Runs `eval`.
 *
 * @param opts - command options
 * @returns the printed results
 */
export async function runEval(opts: EvalCommandOptions): Promise<EvalJson> {
  if (!existsSync(opts.model)) throw new IoError(`weights file not found: ${opts.model}`);
  if (opts.preset && opts.config) throw new InvalidArgumentError('give either --preset or --config, not both');
  const arg = opts.preset ?? opts.config;
  const base = arg ? resolveConfigArg(arg).config : (configFromWeights(opts.model)?.config ?? null);
  if (!base && opts.dataset !== 'mnist') {
    throw new InvalidArgumentError('name the architecture of the weights with --preset NAME or --config FILE');
  }
  const imageSize = opts.imageSize ?? (base?.smallInputs ? 32 : 224);
  const data = await loadTrainingData(opts.dataset, {
    ...(opts.data !== undefined ? { root: opts.data } : {}),
    ...(opts.download ? { download: true } : {}),
    imageSize,
    testOnly: true,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
  });
  const test = data.test;
  if (!test) throw new InvalidArgumentError(`${opts.dataset} has no test images`);
  const config = createConfig(base ?? MNIST_DEFAULT_CONFIG, { numClasses: data.numClasses, inChannels: data.channels });
  const model = await DenseNet.load(opts.model, config, { dtype: opts.dtype ?? 'f32' });
  const batchSize = opts.batchSize ?? 64;
  const single = await evaluate(model, test, { batchSize, normalization: data.normalization });
  const isFolder = 'kind' in test && test.kind === 'image-folder';
  if (opts.tenCrop && !isFolder) throw new InvalidArgumentError('10-crop evaluation applies to image folders (--dataset folder)');
  const ten =
    isFolder && opts.tenCrop !== false
      ? await evaluateTenCrop(model, test as ImageFolderDataset, {
          batchSize: Math.max(1, Math.floor(batchSize / 10)),
          normalization: data.normalization,
          ...(opts.resize !== undefined ? { resize: opts.resize } : {}),
        })
      : null;
  const out: EvalJson = { dataset: opts.dataset, images: single.images, singleCrop: single, tenCrop: ten };
  if (opts.json) {
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    const lines = [`${opts.model} on ${opts.dataset} test (${formatInt(single.images)} images)`, line('single-crop', single)];
    if (ten) lines.push(line('10-crop', ten));
    process.stdout.write(lines.join('\n') + '\n');
  }
  return out;
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
    .requiredOption('--model <file>', 'weights file (.safetensors), e.g. runs/mnist/best.safetensors')
    .option('--preset <name>', 'architecture preset of the weights (default for mnist: the `densenet train` model)')
    .option('--config <preset|file>', 'architecture config JSON file (or preset name)')
    .addOption(new Option('--dataset <name>', 'data set').choices(TRAIN_DATASET_NAMES as string[]).default('mnist'))
    .option('--data <dir>', 'data root (cifar10/cifar100/svhn), or an image folder (DIR/val, DIR/test or DIR itself with class subfolders)')
    .option('--download', 'download a missing data set (CIFAR, SVHN)')
    .option('--batch-size <n>', 'images per forward pass (default 64)', parsePositiveInt)
    .option('--image-size <n>', 'image folders: crop size (default 224, or 32 for CIFAR-style models)', parsePositiveInt)
    .option('--resize <n>', 'image folders: shorter side before cropping (default size·256/224)', parsePositiveInt)
    .option('--ten-crop', 'image folders: also 10-crop (default)')
    .option('--no-ten-crop', 'image folders: single-crop only')
    .addOption(new Option('--dtype <dtype>', 'weight precision (default f32)').choices(['f32', 'f64']))
    .option('--json', 'print JSON: {dataset, images, singleCrop, tenCrop}')
    .addOption(new Option('--limit <n>', 'evaluate only N test images').argParser(parsePositiveInt).hideHelp())
    .action(async (opts: EvalCommandOptions) => {
      await runEval(opts);
    });
}
