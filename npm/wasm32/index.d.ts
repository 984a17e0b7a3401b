/** Node entry of @densenet-sdk/wasm32: the native binding interface (see densenet-sdk's ts/native-api.md) plus bytes. */
import type { WasmBrowserBinding, WasmBrowserModel } from './browser.mjs';
export interface WasmNodeModel extends WasmBrowserModel {
  save(path: string, metadataJson?: string | null): Promise<void>;
  load(path: string): Promise<void>;
  saveCheckpoint(path: string, extraJson: string): Promise<void>;
  loadCheckpoint(path: string): Promise<string>;
  /** Test hook (an 'f64' model): one training step on a float64 input (not rounded to float32); returns [loss, ...logits]. */
  trainStepF64(input: Float64Array, shape: number[], labels: Int32Array): Float64Array;
  /** Test hook (an 'f64' model): the gradient buffers after the last step, flat, one entry per {@link planSpecs} tensor. */
  gradsF64(): Float64Array;
}
export declare const NativeModel: new (configJson: string, dtype: string, seed: number) => WasmNodeModel;
type Fns = Omit<WasmBrowserBinding, 'NativeModel'>;
export declare const presetConfig: Fns['presetConfig'];
export declare const presetNames: Fns['presetNames'];
export declare const normalizeConfig: Fns['normalizeConfig'];
export declare const cifarConfig: Fns['cifarConfig'];
export declare const normalizeOptimizer: Fns['normalizeOptimizer'];
export declare const scheduleLr: Fns['scheduleLr'];
export declare const referenceSchedule: Fns['referenceSchedule'];
export declare const setNumThreads: Fns['setNumThreads'];
export declare const memoryEstimate: Fns['memoryEstimate'];
export declare const currentNumThreads: Fns['currentNumThreads'];
export declare function gemmSimd128(): boolean;
export declare function predictF64(configJson: string, weights: Uint8Array, input: Float64Array, shape: number[]): Float64Array;
/** Test hook: a config's tensors in the order of {@link trainTraceF64}, as JSON `[{name, numel, trainable}]`. */
export declare function planSpecs(configJson: string): string;
/**
 * Test hook: `steps` float64 SGD steps (inputs and labels of every step concatenated). Returns, flat: the logits
 * and loss of step 1, every step's loss, the gradients of step 1, the tensors after step 1 and after the last step.
 */
export declare function trainTraceF64(
  configJson: string,
  weights: Uint8Array,
  inputs: Float64Array,
  shape: number[],
  labels: Int32Array,
  steps: number,
  optimizerJson: string,
  memoryMode: 'efficient' | 'naive',
): Float64Array;
export declare const backend: 'wasm32';
