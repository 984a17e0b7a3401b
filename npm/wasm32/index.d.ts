/** Node entry of @densenet-sdk/wasm32: the native binding interface (see densenet-sdk's ts/native-api.md) plus bytes. */
import type { WasmBrowserBinding, WasmBrowserModel } from './browser.mjs';
export interface WasmNodeModel extends WasmBrowserModel {
  save(path: string, metadataJson?: string | null): Promise<void>;
  load(path: string): Promise<void>;
  saveCheckpoint(path: string, extraJson: string): Promise<void>;
  loadCheckpoint(path: string): Promise<string>;
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
export declare const backend: 'wasm32';
