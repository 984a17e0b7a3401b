/**
 * Fine-tuning types and argument checks: freeze specs, parameter groups, the frozen-BN mode and
 * the options of `DenseNet.resetClassifier`. The methods live on {@link DenseNet}; the native
 * core resolves the specs and groups (see ts/native-api.md).
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';
import { checkNonNegativeInt, checkOptionsObject, checkPositiveInt, isClassNames, typeName } from './internal/validate.js';

/**
 * What `freeze`/`unfreeze` and a parameter group's `prefixes` name: a parameter-name prefix at a
 * dot boundary (torchvision names: `'features.denseblock1'`, `'classifier.weight'`) or a stage:
 * `'stem'` (conv0, and norm0 with the ImageNet stem), `'block1'`..`'blockN'`,
 * `'transition1'`..`'transition(N-1)'`, `'norm5'` (or `'head'`: the head's BN), `'features'`
 * (everything but the classifier), `'classifier'`. A spec that matches no parameter throws an
 * `InvalidArgumentError` naming it.
 *
 * @category Fine-tuning
 */
export type FreezeSpec = string;

/**
 * How a BN whose weight and bias are both frozen normalizes during training: `'eval'` (the
 * default: its running statistics, never updated — PyTorch's `eval()` on frozen BN modules) or
 * `'train'` (batch statistics, running statistics updated).
 *
 * @category Fine-tuning
 */
export type FrozenBatchNormMode = 'eval' | 'train';

/**
 * The values of {@link FrozenBatchNormMode}.
 *
 * @category Fine-tuning
 */
export const FROZEN_BATCH_NORM_MODES: readonly FrozenBatchNormMode[] = ['eval', 'train'];

/**
 * One parameter tensor, as {@link DenseNet.parameters} lists it.
 *
 * @category Fine-tuning
 */
export interface ParameterInfo {
  /** torchvision's name, e.g. `'features.denseblock1.denselayer1.conv1.weight'`. */
  name: string;
  shape: number[];
  /** `false` when frozen. */
  trainable: boolean;
  /** The optimizer group it is in, or `null` (the top-level lr and weight decay). */
  group: string | null;
}

/**
 * A parameter group of the optimizer (torch.optim's param groups): its own lr and weight decay
 * for the parameters under `prefixes`. A parameter in no group takes the top-level values; one in
 * two groups is an error. A learning-rate schedule scales every group's lr by the same factor
 * (see {@link DenseNet.setLrFactor}).
 *
 * @category Fine-tuning
 */
export interface ParamGroupOptions {
  /** Unique name, reported by {@link DenseNet.parameters}. */
  name: string;
  /** Freeze specs (name prefixes or stages) of its parameters. */
  prefixes: FreezeSpec[];
  /** Its learning rate (default: the top-level one). */
  lr?: number;
  /** Its weight decay (default: the top-level one). */
  weightDecay?: number;
}

/**
 * Options of {@link DenseNet.resetClassifier}.
 *
 * @category Fine-tuning
 */
export interface ResetClassifierOptions {
  /** Seed of the new classifier's initialization (default 0). */
  seed?: number;
  /** Class names of the new head (`numClasses` names); default: dropped when the count changes. */
  classNames?: string[];
}

function show(v: unknown): string {
  return v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
}

/**
 * One spec or a non-empty list of specs, as the JSON array the native core takes.
 *
 * @internal
 */
export function specsJson(what: string, specs: unknown): string {
  const list = typeof specs === 'string' ? [specs] : specs;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new InvalidArgumentError(`${what} needs a parameter name prefix or stage, or a non-empty array of them, got ${show(specs)}`);
  }
  return JSON.stringify(list);
}

/**
 * Checks the JavaScript types of optimizer groups (values and prefixes are the native core's to check).
 *
 * @internal
 */
export function checkParamGroups(groups: unknown): ParamGroupOptions[] {
  if (!Array.isArray(groups)) throw new InvalidArgumentError(`groups must be an array of {name, prefixes, lr?, weightDecay?}, got ${show(groups)}`);
  return groups.map((g: unknown, i) => {
    if (g === null || typeof g !== 'object' || Array.isArray(g)) throw new InvalidArgumentError(`groups[${i}] must be an object, got ${show(g)}`);
    const o = g as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!['name', 'prefixes', 'lr', 'weightDecay'].includes(key)) throw new InvalidArgumentError(`unknown field "${key}" in groups[${i}]; known: name, prefixes, lr, weightDecay`);
    }
    if (typeof o['name'] !== 'string' || o['name'] === '') throw new InvalidArgumentError(`groups[${i}].name must be a non-empty string, got ${show(o['name'])}`);
    const prefixes = o['prefixes'];
    if (!Array.isArray(prefixes) || prefixes.length === 0 || !prefixes.every((p) => typeof p === 'string' && p !== '')) {
      throw new InvalidArgumentError(`groups[${i}].prefixes must be a non-empty array of parameter name prefixes or stages, got ${show(prefixes)}`);
    }
    const out: ParamGroupOptions = { name: o['name'], prefixes: [...(prefixes as string[])] };
    for (const key of ['lr', 'weightDecay'] as const) {
      const v = o[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidArgumentError(`groups[${i}].${key} must be a finite number, got ${show(v)}`);
      out[key] = v;
    }
    return out;
  });
}

/**
 * Checks the arguments of `DenseNet.resetClassifier` and fills the default seed.
 *
 * @internal
 */
export function checkResetClassifier(numClasses: unknown, options: ResetClassifierOptions): { seed: number; classNames: string[] | undefined } {
  checkPositiveInt('numClasses', numClasses);
  checkOptionsObject('resetClassifier', options);
  const { seed = 0, classNames } = options;
  checkNonNegativeInt('seed', seed);
  if (classNames !== undefined && !isClassNames(classNames, numClasses as number)) {
    throw new InvalidArgumentError(`classNames must be ${String(numClasses)} strings (one per class), got ${typeName(classNames)}${Array.isArray(classNames) ? ` of ${(classNames as unknown[]).length}` : ''}`);
  }
  return { seed, classNames };
}
