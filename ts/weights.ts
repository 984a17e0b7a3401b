/**
 * What a weights file says about itself: the safetensors header's `__metadata__`, with the
 * architecture (`densenet.config`, written by the native core) and the input preprocessing
 * (`densenet.preprocessing`, written by the SDK) of models saved by this SDK.
 *
 * @module
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

import { createConfig, type ModelConfig } from './config.js';
import { DenseNetError, InvalidArgumentError, IoError, WeightsError } from './errors.js';
import { isPositiveInt } from './internal/validate.js';
import { canonicalTensorName } from './weights/convert.js';
import { torchTensorShapes, weightsFormatOf } from './weights/source.js';

/** Metadata key of the architecture (the normalized {@link ModelConfig} as JSON), written by the native core. */
export const CONFIG_METADATA_KEY = 'densenet.config';

/** Metadata key of the input {@link Preprocessing} (JSON), written by `DenseNet.save` and the training loop. */
export const PREPROCESSING_METADATA_KEY = 'densenet.preprocessing';

/**
 * How images must be prepared for a model: what it was trained on. Stored with the weights
 * (safetensors metadata key `densenet.preprocessing`) by the training loop and by
 * `DenseNet.save(path, { preprocessing })`, and used by default by `predictImages`, `evaluate`
 * and the CLI's `predict` and `eval`.
 *
 * An image is decoded to `channels` channels (1: grayscale, 3: RGB), its shorter side scaled to
 * `resize` (default: the smallest size that covers `inputSize`), center-cropped to `inputSize`,
 * scaled to [0, 1], and normalized per channel: `(x - mean[c]) / std[c]`.
 *
 * @example
 * ```json
 * {"inputSize":[28,28],"channels":1,"mean":[0.13112575],"std":[0.30869855],"classNames":["0","1","2","3","4","5","6","7","8","9"]}
 * ```
 *
 * @category Model
 */
export interface Preprocessing {
  /** `[height, width]` of the network's input. */
  inputSize: [height: number, width: number];
  /** Image channels: 1 (grayscale) or 3 (RGB); equals the model's `inChannels`. */
  channels: number;
  /** Per-channel mean on [0, 1]-scaled pixels (`channels` values). */
  mean: number[];
  /** Per-channel standard deviation (`channels` positive values). */
  std: number[];
  /** Shorter side after resizing, before the center crop (default: cover `inputSize` exactly; ImageNet-style models use 256 for 224). */
  resize?: number;
  /** Class names, index = class (`numClasses` names). */
  classNames?: string[];
}

/**
 * What {@link readWeightsInfo} finds in a weights file.
 *
 * @category Model
 */
export interface WeightsInfo {
  /** The file. */
  path: string;
  /**
   * The file's format, told by its first bytes: `'safetensors'`, or a PyTorch `torch.save` file
   * (`'pytorch-zip'`, the format of PyTorch ≥ 1.6; `'pytorch-legacy'`, the older one). PyTorch
   * files store no architecture or preprocessing, and no metadata.
   */
  format: 'safetensors' | 'pytorch-zip' | 'pytorch-legacy';
  /** The architecture stored with the weights (normalized), or `null` (e.g. converted torchvision weights). */
  config: ModelConfig | null;
  /** The preprocessing stored with the weights, or `null`. */
  preprocessing: Preprocessing | null;
  /** The whole `__metadata__` map of the safetensors header (string → string). */
  metadata: Record<string, string>;
  /** Every tensor's shape, by name, as the header lists it (e.g. `classifier.weight`: `[classes, features]`). */
  tensorShapes: Record<string, number[]>;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return JSON.stringify(v) ?? String(v);
}

/**
 * Checks a {@link Preprocessing} value and returns a normalized copy.
 *
 * @param value - the value to check
 * @param model - when given, `channels` must equal `inChannels` and `classNames` must have `numClasses` names
 * @returns a plain copy with only the known fields
 * @throws {@link InvalidArgumentError} naming the field
 * @internal
 */
export function checkPreprocessing(
  value: unknown,
  model?: { readonly inChannels: number; readonly numClasses: number },
): Preprocessing {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new InvalidArgumentError(`preprocessing.${field} must be ${want}, got ${describe(got)}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('', 'an object', value);
  const p = value as Record<string, unknown>;
  const known = new Set(['inputSize', 'channels', 'mean', 'std', 'resize', 'classNames']);
  for (const key of Object.keys(p)) {
    if (!known.has(key)) throw new InvalidArgumentError(`unknown preprocessing field "${key}"; known: ${[...known].join(', ')}`);
  }
  const size = p['inputSize'];
  if (!Array.isArray(size) || size.length !== 2 || !size.every(isPositiveInt)) bad('inputSize', '[height, width] (positive integers)', size);
  const [h, w] = size as [number, number];
  const channels = p['channels'];
  if (channels !== 1 && channels !== 3) bad('channels', '1 or 3', channels);
  const c = channels as number;
  if (model && c !== model.inChannels) bad('channels', `the model's inChannels ${model.inChannels}`, c);
  const mean = p['mean'];
  if (!Array.isArray(mean) || mean.length !== c || !mean.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    bad('mean', `${c} finite number(s)`, mean);
  }
  const std = p['std'];
  if (!Array.isArray(std) || std.length !== c || !std.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    bad('std', `${c} positive finite number(s)`, std);
  }
  const out: Preprocessing = { inputSize: [h, w], channels: c, mean: [...(mean as number[])], std: [...(std as number[])] };
  const resize = p['resize'];
  if (resize !== undefined) {
    if (!isPositiveInt(resize) || resize < Math.min(h, w)) bad('resize', `an integer >= ${Math.min(h, w)} (the shorter side of inputSize)`, resize);
    out.resize = resize as number;
  }
  const names = p['classNames'];
  if (names !== undefined) {
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) bad('classNames', 'an array of strings', names);
    if (model && (names as string[]).length !== model.numClasses) {
      bad('classNames', `${model.numClasses} names (the model's numClasses)`, `${(names as string[]).length} names`);
    }
    out.classNames = [...(names as string[])];
  }
  return out;
}

/**
 * Reads the `__metadata__` of a safetensors header (string → string; `{}` when there is none).
 *
 * @param path - a .safetensors file
 * @throws {@link IoError} when the file cannot be read; {@link WeightsError} when it is not a safetensors file
 * @internal
 */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  return readSafetensorsHeader(path).metadata;
}

/**
 * Reads a safetensors header: its `__metadata__` (string → string; `{}` when there is none) and
 * every tensor's shape.
 *
 * @param path - a .safetensors file
 * @throws {@link IoError} when the file cannot be read; {@link WeightsError} when it is not a safetensors file
 * @internal
 */
export function readSafetensorsHeader(path: string): { metadata: Record<string, string>; tensorShapes: Record<string, number[]> } {
  let fd: number;
  try {
    // A directory, FIFO or device is refused before it is opened (opening a FIFO would block).
    const st = statSync(path);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or other special file';
      throw new IoError(`cannot read weights file ${path}: it is ${kind}, not a regular file`);
    }
    fd = openSync(path, 'r');
  } catch (err) {
    if (err instanceof IoError) throw err;
    throw new IoError(`cannot read weights file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new WeightsError(`${path}: not a safetensors file (shorter than 8 bytes)`);
    const len = Number(lenBuf.readBigUInt64LE(0));
    if (!(len > 1 && len < 100_000_000)) throw new WeightsError(`${path}: not a safetensors file (header length ${len})`);
    const header = Buffer.alloc(len);
    if (readSync(fd, header, 0, len, 8) !== len) throw new WeightsError(`${path}: truncated safetensors header`);
    let json: unknown;
    try {
      json = JSON.parse(header.toString('utf8'));
    } catch (err) {
      throw new WeightsError(`${path}: the safetensors header is not valid JSON`, { cause: err });
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new WeightsError(`${path}: the safetensors header is not a JSON object`);
    const tensorShapes: Record<string, number[]> = {};
    for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      const shape = (entry as { shape?: unknown } | null)?.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
        throw new WeightsError(`${path}: tensor '${name}' has no valid shape in the safetensors header`);
      }
      tensorShapes[name] = [...(shape as number[])];
    }
    const meta = (json as { __metadata__?: unknown }).__metadata__;
    if (meta === undefined || meta === null) return { metadata: {}, tensorShapes };
    if (typeof meta !== 'object' || Array.isArray(meta) || !Object.values(meta).every((v) => typeof v === 'string')) {
      throw new WeightsError(`${path}: the safetensors __metadata__ must map strings to strings`);
    }
    return { metadata: { ...(meta as Record<string, string>) }, tensorShapes };
  } catch (err) {
    if (err instanceof DenseNetError) throw err;
    throw new IoError(`cannot read weights file ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/**
 * What a weights file says about itself: the architecture and the preprocessing stored with the
 * weights by this SDK (each `null` when absent), and the raw metadata. Reads only the header.
 * A PyTorch file (`.pth`, `.pt`, `.bin`) has none of them: its `config` and `preprocessing` are
 * `null` and its `metadata` is empty (its tensors are checked when it is loaded).
 *
 * @param path - a .safetensors file, or a PyTorch `torch.save` file
 * @throws {@link IoError} when the file cannot be read; {@link WeightsError} when it is not a
 *   safetensors file or its stored config / preprocessing is malformed
 *
 * @example
 * ```ts
 * const info = readWeightsInfo('runs/mnist/best.safetensors');
 * info.config?.numClasses;        // 10
 * info.preprocessing?.inputSize;  // [28, 28]
 * ```
 *
 * @category Model
 */
export function readWeightsInfo(path: string): WeightsInfo {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`path must be a non-empty string, got ${describe(path)}`);
  const format = weightsFormatOf(path);
  if (format === 'pytorch-zip' || format === 'pytorch-legacy') {
    return { path, format, config: null, preprocessing: null, metadata: {}, tensorShapes: torchTensorShapes(path) };
  }
  const { metadata, tensorShapes: stored } = readSafetensorsHeader(path);
  // By the names the core loads them under (e.g. `module.` and torchvision's dotted layer names mapped).
  const tensorShapes = Object.fromEntries(Object.entries(stored).map(([name, shape]) => [canonicalTensorName(name), shape]));
  let config: ModelConfig | null = null;
  const configText = metadata[CONFIG_METADATA_KEY];
  if (configText !== undefined) {
    try {
      config = createConfig(JSON.parse(configText) as Parameters<typeof createConfig>[0]);
    } catch (err) {
      throw new WeightsError(`${path}: the stored architecture (${CONFIG_METADATA_KEY}) is invalid: ${(err as Error).message}`, { cause: err });
    }
  }
  let preprocessing: Preprocessing | null = null;
  const ppText = metadata[PREPROCESSING_METADATA_KEY];
  if (ppText !== undefined) {
    try {
      preprocessing = checkPreprocessing(JSON.parse(ppText), config ?? undefined);
    } catch (err) {
      throw new WeightsError(`${path}: the stored preprocessing (${PREPROCESSING_METADATA_KEY}) is invalid: ${(err as Error).message}`, { cause: err });
    }
  }
  return { path, format: 'safetensors', config, preprocessing, metadata, tensorShapes };
}
