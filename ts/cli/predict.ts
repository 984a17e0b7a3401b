/**
 * `densenet predict [--model w.safetensors] [--config <preset|config.json>] image...`: top-k classes per image,
 * prepared as the preprocessing stored with the weights says. Without `--model`: the best model of
 * the last `densenet train` (see ./last-run.ts).
 *
 * @module
 */
import { readFileSync } from 'node:fs';

import type { Command } from 'commander';

import { InvalidArgumentError, IoError } from '../errors.js';
import { DenseNet } from '../model.js';
import type { PredictJsonEntry } from '../cli-types.js';
import { roundTo } from '../internal/round.js';
import { parseDevice, parseNumberList, parsePositiveInt, resolveConfigArg, warn } from './common.js';
import { displayPath, lastRunModel, LAST_RUN_FILE } from './last-run.js';

/** Options of the `predict` command. */
export interface PredictOptions {
  /** Weights file (safetensors, or a PyTorch .pth / .pt / .bin); default: the best model of the last `densenet train`. */
  model?: string;
  /** Where to compute: `cpu` (default), `cuda` or `cuda:N`. */
  device?: 'cpu' | 'cuda' | `cuda:${number}`;
  /** Preset name or config JSON file (default: the config stored in the weights file). */
  config?: string;
  /** Crop size (default: the stored preprocessing; else 32 for `smallInputs` configs, else 224). */
  size?: number;
  /** Shorter side after resizing, before the center crop (default: size). */
  resize?: number;
  /** Class names, one per line. */
  labels?: string;
  /** How many classes to print per image (default 5). */
  top?: number;
  /** Per-channel mean. */
  mean?: number[];
  /** Per-channel std. */
  std?: number[];
  /** Print JSON. */
  json?: boolean;
}

/**
 * Reads a class-names file (one name per line; blank trailing lines ignored).
 *
 * @param path - the file
 * @param numClasses - required number of names
 */
/** An SDK message about its options (size, resize, mean, std), with the CLI's option names. */
function cliOptionNames(message: string): string {
  return message.replace(/^size /, '--size ').replace(/^resize /, '--resize ').replace(/^mean /, '--mean ').replace(/^std /, '--std ');
}

export function readLabels(path: string, numClasses: number): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new IoError(`cannot read labels file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const names = text.split(/\r?\n/).map((s) => s.trim());
  while (names.length && names[names.length - 1] === '') names.pop();
  if (names.length !== numClasses) {
    throw new InvalidArgumentError(`labels file ${path} has ${names.length} names but the model has ${numClasses} classes`);
  }
  return names;
}

/**
 * Runs `predict`. The architecture, input size, channels, normalization and class names come
 * from the weights file when it stores them (files written by this SDK do); a flag that
 * contradicts the stored preprocessing is used, with a warning on stderr.
 *
 * @param images - image paths
 * @param opts - command options
 */
export async function runPredict(images: string[], opts: PredictOptions): Promise<void> {
  let file = opts.model;
  if (file === undefined) {
    file = lastRunModel('predict').model;
    warn('predict', `using ${displayPath(file)}, the best model of the last \`densenet train\` (recorded in ${LAST_RUN_FILE})`, 'note');
  }
  const config = opts.config ? resolveConfigArg(opts.config).config : null;
  const model = await DenseNet.load(file, config, opts.device ? { device: opts.device } : {});
  try {
    const stored = model.preprocessing?.classNames;
    let labels: readonly string[] | undefined = stored;
    if (opts.labels) {
      labels = readLabels(opts.labels, model.numClasses);
      if (stored && labels.some((name, i) => name !== stored[i])) {
        warn('predict', `--labels ${opts.labels} differs from the class names stored with the model; using --labels`);
      }
    }
    const pred = await model.predictImages(images, {
      ...(opts.size !== undefined ? { size: opts.size } : {}),
      ...(opts.resize !== undefined ? { resize: opts.resize } : {}),
      ...(opts.mean ? { mean: opts.mean } : {}),
      ...(opts.std ? { std: opts.std } : {}),
      onWarning: (message) => warn('predict', cliOptionNames(message)),
    }).catch((e: unknown) => {
      // The SDK names its options (size, resize, mean, std); the CLI user typed --size ...
      if (e instanceof InvalidArgumentError) throw new InvalidArgumentError(cliOptionNames(e.message), { cause: e });
      throw e;
    });
    const top = pred.topK(opts.top ?? 5);
    if (opts.json) {
      const out: PredictJsonEntry[] = images.map((image, i) => ({
        image,
        top: top[i]!.map(({ index, logit, probability }) => ({
          index,
          logit: roundTo(logit, 6),
          probability: roundTo(probability, 6),
          ...(labels ? { label: labels[index]! } : {}),
        })),
      }));
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    const lines: string[] = [];
    images.forEach((image, i) => {
      lines.push(image);
      top[i]!.forEach((e, r) => {
        const pct = `${(e.probability * 100).toFixed(2)}%`.padStart(7);
        const name = labels ? `  ${labels[e.index]}` : '';
        lines.push(`  ${String(r + 1).padStart(2)}. ${pct}  class ${e.index}${name}`);
      });
    });
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await model.dispose();
  }
}

/**
 * Registers the `predict` command.
 *
 * @param program - the root command
 */
export function registerPredict(program: Command): Command {
  return program
    .command('predict')
    .description('classify images with a trained model and print the top classes of each')
    .argument('<images...>', 'image files (PNG, JPEG, WebP, ...)')
    .option('--model <file>', `weights file (.safetensors, or a PyTorch .pth / .pt / .bin with --config); default: the best model of the last \`densenet train\` (${LAST_RUN_FILE})`)
    .option('--config <preset|file>', 'preset name or config JSON file of the architecture (default: the config saved in the weights file)')
    .option('--size <n>', 'center-crop size fed to the network (default: the size stored with the model; else 32 for CIFAR configs, 224 otherwise)', parsePositiveInt)
    .option('--resize <n>', 'shorter side after resizing, before the crop (default: stored with the model, else just enough for the crop)', parsePositiveInt)
    .option('--labels <file>', 'class names, one per line (default: the names stored with the model)')
    .option('--top <k>', 'classes to print per image', parsePositiveInt, 5)
    .option('--mean <list>', 'per-channel mean, e.g. 0.485,0.456,0.406 (default: stored with the model)', parseNumberList)
    .option('--std <list>', 'per-channel std, e.g. 0.229,0.224,0.225 (default: stored with the model)', parseNumberList)
    .option('--device <device>', 'cpu (default), cuda or cuda:N (the CUDA build of the addon)', parseDevice)
    .option('--json', 'print JSON')
    .action(async (images: string[], opts: PredictOptions) => {
      await runPredict(images, opts);
    });
}
