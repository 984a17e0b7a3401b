/**
 * densenet-sdk: train and run memory-efficient DenseNets from TypeScript on a Rust core.
 *
 * @example
 * ```ts
 * import { DenseNet } from 'densenet-sdk';
 * const model = DenseNet.create('densenet121');
 * const out = await model.predictImages(['cat.jpg'], { size: 224 });
 * console.log(out.topK(5));
 * ```
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './config.js';
export * from './model.js';
export {
  loadNative,
  loadNativeWithInfo,
  packageRoot,
  platformTriple,
  setNumThreads,
  type LoadNativeOptions,
  type LoadedNative,
  type NativeBinding,
  type NativeEvalResult,
  type NativeInfo,
  type NativeModel,
  type NativeModelConstructor,
  type NativeStepResult,
} from './native.js';
// Data readers and batch pipeline (ts/data/, owned by the data helper):
export * from './data/index.js';
// Training loop, evaluation, results.csv and plots (ts/train/, owned by the training helper):
export * from './train/index.js';
