/**
 * {@link estimateMemory}: the memory a network needs, from its plan alone.
 *
 * @module
 */
import { createConfig, type ConfigInput } from '../config.js';
import { checkEstimateShape } from '../internal/validate.js';
import { callNative, type MemoryEstimate } from '../native-binding.js';
import { loadNative } from '../native.js';
import type { DType } from './types.js';

/**
 * The memory a config needs on an NCHW input shape, from the network's plan alone (nothing is
 * allocated). Compare {@link MemoryEstimate.trainingEfficient} and `trainingNaive` to see what
 * the memory-efficient implementation saves.
 *
 * @example
 * ```ts
 * const est = estimateMemory('densenet-bc-100', [64, 3, 32, 32]);
 * console.log(est.trainingEfficient / 2 ** 20, 'MiB of activations per training step');
 * ```
 * @param presetOrConfig - a preset name or a (partial) config
 * @param shape - `[N, C, H, W]`
 * @param dtype - element type, `'f32'` (default) or `'f64'`
 * @category Model
 */
export function estimateMemory(presetOrConfig: ConfigInput, shape: readonly number[], dtype: DType = 'f32'): MemoryEstimate {
  checkEstimateShape(shape);
  const config = createConfig(presetOrConfig);
  const native = loadNative();
  return JSON.parse(callNative(() => native.memoryEstimate(JSON.stringify(config), [...shape], dtype))) as MemoryEstimate;
}
