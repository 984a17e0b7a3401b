/**
 * `densenet info --model <weights|checkpoint>`: which parameters of a model train, by stage. A
 * training checkpoint carries its frozen set and optimizer groups; `--freeze` previews a freeze
 * on top of it.
 *
 * @module
 */
import type { ModelConfig } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import type { ParameterInfo } from '../finetune.js';
import { DenseNet } from '../model.js';
import { readWeightsInfo } from '../weights.js';
import { formatInt } from './common.js';

/** One stage of the trainable table. */
export interface TrainableStage {
  /** `stem`, `block1`, `transition1`, ..., `norm5`, `classifier`. */
  stage: string;
  /** Parameters (elements) in it. */
  parameters: number;
  /** Of those, the ones that train. */
  trainable: number;
  /** Optimizer groups of its parameters (`null`: the top-level lr). */
  groups: (string | null)[];
}

/** The stage a torchvision parameter name belongs to (the names of `DenseNet.freeze`'s stage aliases). */
export function stageOf(name: string): string {
  if (name.startsWith('classifier.')) return 'classifier';
  const m = /^features\.(denseblock|transition)(\d+)\./.exec(name);
  if (m) return `${m[1] === 'denseblock' ? 'block' : 'transition'}${m[2]}`;
  if (name.startsWith('features.norm5.')) return 'norm5';
  return 'stem';
}

/** Groups a model's parameter list by stage, in network order. */
export function trainableStages(params: readonly ParameterInfo[]): TrainableStage[] {
  const stages = new Map<string, TrainableStage>();
  for (const p of params) {
    const stage = stageOf(p.name);
    const numel = p.shape.reduce((a, b) => a * b, 1);
    const s = stages.get(stage) ?? { stage, parameters: 0, trainable: 0, groups: [] };
    s.parameters += numel;
    if (p.trainable) s.trainable += numel;
    if (!s.groups.includes(p.group)) s.groups.push(p.group);
    stages.set(stage, s);
  }
  return [...stages.values()];
}

/**
 * Loads `file` (weights or a training checkpoint) and lists its stages' trainable parameters.
 *
 * @param file - the weights or checkpoint file
 * @param config - the architecture when the file stores none (a PyTorch file)
 * @param freeze - specs to freeze on top (a preview)
 */
export async function modelTrainable(
  file: string,
  config: ModelConfig | null,
  freeze: readonly string[] | undefined,
): Promise<{ config: ModelConfig; checkpoint: boolean; stages: TrainableStage[]; parameters: number; trainable: number }> {
  const info = readWeightsInfo(file);
  const checkpoint = info.metadata['densenet.optimizer'] !== undefined;
  const arch = config ?? info.config;
  if (!arch) throw new InvalidArgumentError(`${file} stores no model config (a PyTorch file): name its architecture, e.g. densenet info densenet121 --model ${file}`);
  const model = checkpoint ? DenseNet.create(arch) : await DenseNet.load(file, arch);
  try {
    if (checkpoint) await model.loadCheckpoint(file);
    if (freeze && freeze.length > 0) model.freeze([...freeze]);
    return { config: model.config as ModelConfig, checkpoint, stages: trainableStages(model.parameters()), parameters: model.parameterCount, trainable: model.trainableParameterCount };
  } finally {
    await model.dispose();
  }
}

/** The text table of {@link modelTrainable}. */
export function renderTrainable(file: string, r: Awaited<ReturnType<typeof modelTrainable>>): string {
  const rows = r.stages.map((s) => [
    s.stage,
    formatInt(s.parameters),
    s.trainable === s.parameters ? 'yes' : s.trainable === 0 ? 'frozen' : `${formatInt(s.trainable)} trainable`,
    s.groups.map((g) => g ?? '-').join(', '),
  ]);
  const head = ['stage', 'parameters', 'trains', 'group'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]): string => row.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    `${file} (${r.checkpoint ? 'training checkpoint: its frozen set and groups' : 'weights: everything trains unless frozen'})`,
    '',
    fmt(head),
    rule,
    ...rows.map(fmt),
    rule,
    `trainable ${formatInt(r.trainable)} of ${formatInt(r.parameters)} parameters`,
    '',
  ].join('\n');
}
