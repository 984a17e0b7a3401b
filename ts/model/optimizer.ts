/**
 * The SGD options of `DenseNet.setOptimizer` as the native core reads them.
 *
 * @internal
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { checkParamGroups } from '../finetune.js';
import { typeName } from '../internal/validate.js';
import type { OptimizerOptions } from './types.js';

/**
 * The JSON of SGD options for the native core: checks only that each given field has the right
 * JavaScript type (naming it); values and defaults are the native core's.
 *
 * @param options - SGD options
 * @internal
 */
export function optimizerJson(options: OptimizerOptions): string {
  if (options !== null && typeof options === 'object' && !Array.isArray(options) && options.groups !== undefined) {
    const { groups, ...rest } = options;
    return JSON.stringify({ ...(JSON.parse(optimizerJson(rest)) as object), groups: checkParamGroups(groups) });
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`optimizer options must be an object, got ${typeName(options)}`);
  }
  const out: Record<string, number | boolean> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'nesterov') {
      if (typeof value !== 'boolean') throw new InvalidArgumentError(`nesterov must be a boolean, got ${String(value)}`);
    } else if (key === 'lr' || key === 'momentum' || key === 'weightDecay') {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidArgumentError(`${key} must be a finite number, got ${String(value)}`);
    } else {
      throw new InvalidArgumentError(`unknown optimizer option "${key}"; known: lr, momentum, nesterov, weightDecay, groups`);
    }
    out[key] = value as number | boolean;
  }
  return JSON.stringify(out);
}
