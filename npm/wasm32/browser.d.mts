/** Browser entry of @densenet-sdk/wasm32 (ESM, no `node:` imports); see browser.js. */
export interface WasmBrowserModel {
  readonly dtype: string;
  readonly step: number;
  configJson(): string;
  paramCount(): number;
  summaryJson(height: number, width: number): string;
  predict(input: Float32Array, shape: number[]): Promise<Float32Array>;
  trainStep(input: Float32Array, shape: number[], labels: Int32Array): Promise<{ loss: number; correct: number }>;
  evalStep(input: Float32Array, shape: number[], labels: Int32Array): Promise<{ loss: number; correct: number; logits: Float32Array }>;
  weightsBytes(metadataJson?: string | null): Uint8Array;
  loadWeightsBytes(bytes: Uint8Array | ArrayBuffer, sourceName?: string): void;
  checkpointBytes(extraJson: string): Uint8Array;
  loadCheckpointBytes(bytes: Uint8Array | ArrayBuffer, sourceName?: string): string;
  setOptimizer(optJson: string): void;
  setLearningRate(lr: number): void;
  optimizerJson(): string;
  setLrFactor(factor: number): void;
  freeze(specsJson: string): void;
  unfreeze(specsJson: string): void;
  setFrozenBatchNorm(mode: string): void;
  frozenBatchNorm(): string;
  parametersJson(): string;
  trainableParamCount(): number;
  resetClassifier(numClasses: number, seed: number): void;
  setMemoryMode(mode: string): void;
  setThreads(threads: number): void;
  memoryEstimate(shape: number[]): string;
  setMemoryBudget(bytes: number | null): void;
  memoryBudget(): number | null;
  dispose(): void;
}
export declare const NativeModel: new (configJson: string, dtype: string, seed: number) => WasmBrowserModel;
export interface WasmBrowserBinding {
  NativeModel: typeof NativeModel;
  presetConfig(name: string): string;
  presetNames(): string[];
  normalizeConfig(json: string): string;
  cifarConfig(depth: number, growthRate: number, bc: boolean, numClasses: number): string;
  normalizeOptimizer(json: string): string;
  scheduleLr(scheduleJson: string, epoch: number): number;
  referenceSchedule(lr: number, epochs: number): string;
  setNumThreads(n: number): void;
  memoryEstimate(configJson: string, shape: number[], dtype: string): string;
  currentNumThreads(): number;
  gemmSimd128(): boolean;
  backend: 'wasm32';
}
/** Options of {@link init}. */
export interface WasmInitOptions {
  /**
   * Threads of the pool (Web Workers on the threaded module). Default: every core in a Worker of
   * a cross-origin-isolated page, else 1. Above 1 elsewhere: ERR_INVALID_ARG.
   */
  threads?: number;
}
export declare function init(source?: Uint8Array | ArrayBuffer | Response | Promise<Response> | URL | string | WebAssembly.Module, options?: WasmInitOptions): Promise<WasmBrowserBinding>;
