/**
 * The file-side checks of `DenseNet.load`: the architecture stored in a weights file, the new
 * classifier its `numClasses` option asks for, the stored preprocessing, and the metadata that
 * `save` writes.
 *
 * @internal
 * @module
 */
import { InvalidArgumentError, WeightsError } from '../errors.js';
import { checkNonNegativeInt, checkPositiveInt, isClassNames, typeName } from '../internal/validate.js';
import { PREPROCESSING_METADATA_KEY, checkPreprocessing, readWeightsInfo, type Preprocessing } from '../weights.js';
import type { ConfigInput } from '../config.js';
import type { LoadOptions, SaveOptions } from './types.js';

/** What the preprocessing checks need to know of a model. */
type ModelShape = { readonly inChannels: number; readonly numClasses: number };

/** The architecture stored in the weights file at `path`; a WeightsError saying what to pass when there is none. */
export function storedArchitecture(path: string): ConfigInput {
  const info = readWeightsInfo(path);
  const config = info.config;
  if (!config) {
    const why =
      info.format === 'safetensors'
        ? 'no "densenet.config" in its safetensors metadata: it was not saved by densenet-sdk, e.g. converted torchvision weights'
        : 'a PyTorch file stores the weights only';
    throw new WeightsError(
      `${path} carries no architecture (${why}); pass the config: ` +
        `DenseNet.load(path, 'densenet121'), or on the command line --config <preset|config.json>`,
    );
  }
  return config;
}

export function checkStoredPreprocessing(p: Preprocessing, model: ModelShape, path: string): Preprocessing {
  try {
    return checkPreprocessing(p, model);
  } catch (err) {
    throw new WeightsError(`${path}: its stored preprocessing does not fit this model: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The safetensors metadata JSON `save` writes (null for none): `options.metadata` (string values,
 * no reserved `densenet.` keys) and the preprocessing, by default the model's.
 */
export function saveMetadataJson(options: SaveOptions, current: Readonly<Preprocessing> | null, model: ModelShape): string | null {
  const metadata: Record<string, string> = {};
  if (options.metadata !== undefined) {
    if (options.metadata === null || typeof options.metadata !== 'object' || Array.isArray(options.metadata)) {
      throw new InvalidArgumentError(`metadata must be an object of strings, got ${typeName(options.metadata)}`);
    }
    for (const [k, v] of Object.entries(options.metadata)) {
      if (k.startsWith('densenet.')) throw new InvalidArgumentError(`metadata key "${k}" is reserved (keys starting with "densenet.")`);
      if (typeof v !== 'string') throw new InvalidArgumentError(`metadata["${k}"] must be a string, got ${typeName(v)}`);
      metadata[k] = v;
    }
  }
  const pp = options.preprocessing === undefined ? current : options.preprocessing;
  if (pp) metadata[PREPROCESSING_METADATA_KEY] = JSON.stringify(checkPreprocessing(pp, model));
  return Object.keys(metadata).length ? JSON.stringify(metadata) : null;
}

/**
 * The classifier `DenseNet.load(path, config, { numClasses })` asks for: null without numClasses;
 * else the file's class count (read from its header; the model is created with it) and the head to
 * put in its place when that count differs.
 */
export function newHead(path: string, options: LoadOptions): { fileClasses: number; numClasses: number; seed: number; classNames: string[] | undefined } | null {
  const { numClasses, classNames, headSeed = 0 } = options;
  if (numClasses === undefined) {
    if (classNames !== undefined || options.headSeed !== undefined) throw new InvalidArgumentError('classNames and headSeed of DenseNet.load go with numClasses');
    return null;
  }
  checkPositiveInt('numClasses', numClasses);
  checkNonNegativeInt('headSeed', headSeed);
  if (classNames !== undefined && !isClassNames(classNames, numClasses)) {
    throw new InvalidArgumentError(`classNames must be ${numClasses} strings (one per class), got ${typeName(classNames)}`);
  }
  const shape = readWeightsInfo(path).tensorShapes['classifier.weight'];
  // No classifier in the file: the native load names what is missing.
  const fileClasses = shape?.length === 2 && shape[0]! >= 1 ? shape[0]! : numClasses;
  return { fileClasses, numClasses, seed: headSeed, classNames };
}
