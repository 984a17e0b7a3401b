/**
 * `densenet info <preset|config.json>`: the layer table of a DenseNet (like the paper's Table 1).
 *
 * @module
 */
import type { Command } from 'commander';

import { DenseNet, estimateMemory, type ModelSummary } from '../model.js';
import type { MemoryEstimate } from '../native.js';
import type { ModelConfig } from '../config.js';
import type { InfoJson } from '../cli-types.js';
import { InvalidArgumentError as CommanderArgError } from 'commander';

import { InvalidArgumentError } from '../errors.js';
import { formatInt, parseInputSize, resolveConfigArg } from './common.js';
import { modelTrainable, renderTrainable } from './info-trainable.js';

function parseBatch(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new CommanderArgError('must be a positive integer.');
  return n;
}

function parseDType(v: string): 'f32' | 'f64' {
  if (v !== 'f32' && v !== 'f64') throw new CommanderArgError('must be f32 or f64.');
  return v;
}

/** Options of the `info` command. */
export interface InfoOptions {
  /** Print JSON instead of a table. */
  json?: boolean;
  /** `[height, width]` of the input (default 32x32 for `smallInputs` configs, else 224x224). */
  inputSize?: [number, number];
  /** Batch size of the memory estimate (default 1). */
  batch?: number;
  /** Also print the memory of a training step (both memory modes), not only of inference. */
  train?: boolean;
  /** Element type of the memory estimate. */
  dtype?: 'f32' | 'f64';
  /** Weights or a training checkpoint: list which of its parameters train, by stage. */
  model?: string;
  /** With `model`: freeze these on top (a preview of `densenet train --freeze`). */
  freeze?: string[];
}

/** Bytes as MiB/GiB with 1 decimal. */
function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The memory lines of `info`: parameters, then the peak of a predict and, with `train`, of a
 * training step in each memory mode (model, gradients and optimizer state included).
 *
 * @param est - the native estimate
 * @param batch - batch size it is for
 * @param train - include training
 */
export function renderMemory(est: MemoryEstimate, batch: number, train: boolean): string {
  const held = est.parameters + est.gradients + est.optimizer;
  const lines = [
    `Memory (batch ${batch}, estimated from the plan):`,
    `  parameters and BN statistics    ${formatBytes(est.parameters)}`,
    `  predict, peak                   ${formatBytes(est.parameters + est.inference)}  (activations ${formatBytes(est.inference)})`,
  ];
  if (train) {
    lines.push(
      `  training step, efficient, peak  ${formatBytes(held + est.trainingEfficient)}  (activations ${formatBytes(est.trainingEfficient)})`,
      `  training step, naive, peak      ${formatBytes(held + est.trainingNaive)}  (activations ${formatBytes(est.trainingNaive)})`,
    );
  }
  return lines.join('\n') + '\n';
}

function describeConfig(c: ModelConfig): string {
  const kind = c.bottleneck ? (c.compression < 1 ? 'DenseNet-BC' : 'DenseNet-B') : c.compression < 1 ? 'DenseNet-C' : 'DenseNet';
  return `${kind}, k=${c.growthRate}, blocks ${c.blockConfig.join('-')}, stem ${c.numInitFeatures}, ` +
    `compression ${c.compression}, ${c.numClasses} classes, ${c.smallInputs ? 'CIFAR' : 'ImageNet'} stem`;
}

/**
 * The paper-style name of a native stage name (`denseblock2` → `Dense Block (2)`); unknown
 * names are returned unchanged.
 *
 * @param name - stage name as the native core reports it
 * @param config - the model config
 */
export function stageTitle(name: string, config: ModelConfig): string {
  let m: RegExpExecArray | null;
  if (name === 'convolution') return 'Convolution';
  if (name === 'pooling') return 'Pooling';
  if ((m = /^denseblock(\d+)$/.exec(name))) return `Dense Block (${m[1]})`;
  if ((m = /^transition(\d+)$/.exec(name))) return `Transition Layer (${m[1]})`;
  if (name === 'classification') return 'Classification Layer';
  return name;
}

/**
 * The layers of a stage as the paper's Table 1 writes them (`[1×1 conv, 3×3 conv] × 6`),
 * derived from the config; empty for an unknown stage name.
 *
 * @param name - stage name as the native core reports it
 * @param config - the model config
 */
export function stageLayers(name: string, config: ModelConfig): string {
  let m: RegExpExecArray | null;
  if (name === 'convolution') return config.smallInputs ? '3×3 conv' : '7×7 conv, stride 2';
  if (name === 'pooling') return '3×3 max pool, stride 2';
  if ((m = /^denseblock(\d+)$/.exec(name))) {
    const n = config.blockConfig[Number(m[1]) - 1];
    if (n === undefined) return '';
    return `${config.bottleneck ? '[1×1 conv, 3×3 conv]' : '[3×3 conv]'} × ${n}`;
  }
  if (/^transition\d+$/.test(name)) return '1×1 conv; 2×2 average pool, stride 2';
  if (name === 'classification') return `global average pool; ${config.numClasses}-way linear`;
  return '';
}

/**
 * Renders the summary as a text table like the paper's Table 1: stage, output size,
 * channels, parameters and layers, then the total.
 *
 * @param title - first line
 * @param summary - the model summary
 * @param config - the model config
 */
export function renderTable(title: string, summary: ModelSummary, config: ModelConfig): string {
  const rows: string[][] = [['Stage', 'Output size', 'Channels', 'Parameters', 'Layers']];
  rows.push(['Input', `${summary.inputSize[0]} × ${summary.inputSize[1]}`, String(config.inChannels), '', '']);
  for (const s of summary.stages) {
    rows.push([
      stageTitle(s.name, config),
      `${s.outputShape[1]} × ${s.outputShape[2]}`,
      String(s.outputShape[0]),
      formatInt(s.params),
      stageLayers(s.name, config),
    ]);
  }
  const total = ['Total', '', '', formatInt(summary.total), ''];
  const widths = rows[0]!.map((_, i) => Math.max(...[...rows, total].map((r) => r[i]!.length)));
  const left = new Set([0, 4]);
  const fmt = (r: string[]): string =>
    r.map((cell, i) => (left.has(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1));
  return [title, '', fmt(rows[0]!), rule, ...rows.slice(1).map(fmt), rule, fmt(total), ''].join('\n');
}

/**
 * Runs `info`: resolves the config, builds the model, prints the table or JSON.
 *
 * @param target - preset name or config file
 * @param options - `json`, `inputSize`
 */
export async function runInfo(target: string | undefined, options: InfoOptions): Promise<void> {
  if (options.freeze !== undefined && options.model === undefined) throw new InvalidArgumentError('--freeze goes with --model (the weights whose parameters it freezes)');
  if (options.model !== undefined) {
    const r = await modelTrainable(options.model, target === undefined ? null : resolveConfigArg(target).config, options.freeze);
    process.stdout.write(options.json ? JSON.stringify({ model: options.model, ...r }, null, 2) + '\n' : renderTrainable(options.model, r));
    return;
  }
  if (target === undefined) throw new InvalidArgumentError('name a preset (e.g. densenet121) or a config file, or give --model <weights>');
  const { preset, config, source } = resolveConfigArg(target);
  const model = DenseNet.create(config);
  const [h, w] = options.inputSize ?? (config.smallInputs ? [32, 32] : [224, 224]);
  const summary = model.summary(h, w);
  const parameters = model.parameterCount;
  const batch = options.batch ?? 1;
  const memory = estimateMemory(model.config as ModelConfig, [batch, (model.config as ModelConfig).inChannels, h, w], options.dtype ?? 'f32');
  model.dispose();
  if (options.json) {
    const out: InfoJson = { preset, config: model.config as ModelConfig, inputSize: [h, w], parameters, stages: summary.stages, batch, memory };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  const title = `${preset ?? source}: ${describeConfig(model.config as ModelConfig)}`;
  process.stdout.write(renderTable(title, summary, model.config as ModelConfig) + '\n' + renderMemory(memory, batch, options.train ?? false));
}

/**
 * Registers the `info` command.
 *
 * @param program - the root command
 */
export function registerInfo(program: Command): Command {
  return program
    .command('info')
    .description("print a DenseNet's layer table (stage, output size, parameters) and its parameter count")
    .argument('[model]', 'preset name (e.g. densenet121) or path to a config JSON file')
    .option('--json', 'print JSON: {preset, config, inputSize, parameters, stages, batch, memory}')
    .option('--input-size <size>', 'input size N or HxW (default 32 for CIFAR configs, 224 otherwise)', parseInputSize)
    .option('--batch <n>', 'batch size of the memory estimate (default 1)', parseBatch)
    .option('--train', 'also estimate the memory of a training step (efficient and naive memory modes)')
    .option('--dtype <f32|f64>', 'element type of the memory estimate (default f32)', parseDType)
    .option('--model <file>', 'weights or training checkpoint: which parameters train, by stage (the preset argument names the architecture of a PyTorch file)')
    .option('--freeze <list>', 'with --model: preview freezing these stages or name prefixes (comma-separated)', (v: string) => v.split(',').map((x) => x.trim()))
    .action(async (target: string | undefined, opts: InfoOptions, command: Command) => {
      // A usage error like commander's own: the argument is optional only with --model.
      if (target === undefined && opts.model === undefined) command.error("error: missing required argument 'model' (a preset or config file), or --model <weights>");
      await runInfo(target, opts);
    });
}
