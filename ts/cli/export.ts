/**
 * `densenet export --model w.safetensors --onnx model.onnx [--opset N] [--batch dynamic|N]
 * [--input-size HxW] [--no-fold-bn]`: writes the model as an ONNX file (see `DenseNet.exportOnnx`).
 * Without `--model`: the best model of the last `densenet train`.
 *
 * @module
 */
import type { Command } from 'commander';
import { InvalidArgumentError as CommanderArgError } from 'commander';

import { DenseNet } from '../model.js';
import { ONNX_DEFAULT_OPSET, ONNX_MAX_OPSET, ONNX_MIN_OPSET } from '../onnx/options.js';
import { parseInputSize, parsePositiveInt, resolveConfigArg, warn } from './common.js';
import { displayPath, lastRunModel, LAST_RUN_FILE } from './last-run.js';

/** Options of the `export` command. */
export interface ExportOptions {
  /** Weights file (safetensors); default: the best model of the last `densenet train`. */
  model?: string;
  /** The ONNX file to write. */
  onnx: string;
  /** Preset name or config JSON file (default: the config stored in the weights file). */
  config?: string;
  /** Opset of the default ONNX domain. */
  opset?: number;
  /** `'dynamic'` or a fixed batch size. */
  batch?: 'dynamic' | number;
  /** `[height, width]` of the input. */
  inputSize?: [number, number];
  /** `false` with `--no-fold-bn`. */
  foldBn: boolean;
}

/** Parses `--batch`: `dynamic` or a positive integer. */
export function parseBatchOption(value: string): 'dynamic' | number {
  if (value === 'dynamic') return 'dynamic';
  try {
    return parsePositiveInt(value);
  } catch {
    throw new CommanderArgError("must be 'dynamic' or a positive integer.");
  }
}

/**
 * Runs `export`: loads the model, writes the ONNX file, prints what was written.
 *
 * @param opts - command options
 */
export async function runExport(opts: ExportOptions): Promise<void> {
  let file = opts.model;
  if (file === undefined) {
    file = lastRunModel('export').model;
    warn('export', `using ${displayPath(file)}, the best model of the last \`densenet train\` (recorded in ${LAST_RUN_FILE})`, 'note');
  }
  const config = opts.config ? resolveConfigArg(opts.config).config : null;
  const model = await DenseNet.load(file, config);
  try {
    const info = await model.exportOnnx(opts.onnx, {
      ...(opts.opset !== undefined ? { opset: opts.opset } : {}),
      ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
      ...(opts.inputSize !== undefined ? { inputSize: opts.inputSize } : {}),
      foldBatchNorm: opts.foldBn,
    });
    const folded = info.foldedBatchNorms.length;
    process.stdout.write(
      `wrote ${info.path}: opset ${info.opset}, input ${info.inputShape.join('×')}, ${info.nodeCount} nodes, ` +
        `${(info.bytes / 2 ** 20).toFixed(1)} MiB; ${folded} BatchNorm${folded === 1 ? '' : 's'} folded into convs, ${info.batchNormNodes.length} kept\n`,
    );
  } finally {
    await model.dispose();
  }
}

/**
 * Registers the `export` command.
 *
 * @param program - the root command
 */
export function registerExport(program: Command): Command {
  return program
    .command('export')
    .description('write a trained model as an ONNX file (for onnxruntime and other ONNX runtimes)')
    .requiredOption('--onnx <file>', 'the .onnx file to write')
    .option('--model <file>', `weights file (.safetensors); default: the best model of the last \`densenet train\` (${LAST_RUN_FILE})`)
    .option('--config <preset|file>', 'preset name or config JSON file of the architecture (default: the config saved in the weights file)')
    .option('--opset <n>', `ONNX opset, ${ONNX_MIN_OPSET} to ${ONNX_MAX_OPSET} (default ${ONNX_DEFAULT_OPSET})`, parsePositiveInt)
    .option('--batch <dynamic|n>', 'batch dimension: dynamic (default) or a fixed size', parseBatchOption)
    .option('--input-size <size>', 'input N or HxW (default: the size stored with the model; else 32 for CIFAR configs, 224 otherwise)', parseInputSize)
    .option('--no-fold-bn', 'keep every BatchNorm as a BatchNormalization node (default: fold norm0 and each norm2 into the conv before it)')
    .action(async (opts: ExportOptions) => {
      await runExport(opts);
    });
}
