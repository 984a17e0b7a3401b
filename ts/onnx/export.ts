/**
 * Writes a DenseNet as an ONNX file: its tensors (saved by the model to a temporary
 * safetensors file and read back), the graph built from its config, its preprocessing and
 * class names as `metadata_props`, written atomically.
 *
 * @module
 * @internal
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import type { ModelConfig } from '../config.js';
import { IoError } from '../errors.js';
import { packageRoot } from '../native.js';
import { writeFileAtomicAsync } from '../train/io.js';
import { CONFIG_METADATA_KEY, PREPROCESSING_METADATA_KEY, type Preprocessing } from '../weights.js';
import { encodeOnnxModel } from './encode.js';
import { buildDenseNetGraph, ONNX_BATCH_DIM } from './graph.js';
import type { OnnxExportInfo } from './options.js';
import { readSafetensorsTensors, type StoredTensor } from './safetensors.js';

/** `metadata_props` key of the class names (a JSON array of strings), when the model has them. */
export const CLASS_NAMES_METADATA_KEY = 'densenet.classNames';

/** What the exporter needs of a model. */
export interface ExportSource {
  readonly config: Readonly<ModelConfig>;
  readonly preprocessing: Readonly<Preprocessing> | null;
  /** Writes the model's tensors to a safetensors file (`DenseNet.save`). */
  saveTensors(path: string): Promise<void>;
}

/** The export's settings, checked. */
export interface ExportSettings {
  readonly opset: number;
  readonly irVersion: number;
  readonly batch: 'dynamic' | number;
  readonly inputSize: readonly [number, number];
  readonly foldBatchNorm: boolean;
  readonly throwIfAborted: () => void;
}

function sdkVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Fails early, before any work, when `path`'s directory cannot take a new file. */
export function checkWritableDestination(path: string): void {
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new IoError(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function readModelTensors(source: ExportSource): Promise<Map<string, StoredTensor>> {
  const dir = await mkdtemp(join(tmpdir(), 'densenet-onnx-'));
  try {
    const file = join(dir, 'weights.safetensors');
    await source.saveTensors(file);
    return await readSafetensorsTensors(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Exports `source` to `path`.
 *
 * @param source - the model
 * @param path - the .onnx file to write (replaced atomically; nothing is left on failure)
 * @param settings - opset, batch, input size, folding
 */
export async function exportDenseNetToOnnx(source: ExportSource, path: string, settings: ExportSettings): Promise<OnnxExportInfo> {
  checkWritableDestination(path);
  const tensors = await readModelTensors(source);
  settings.throwIfAborted();
  const config = source.config as ModelConfig;
  const built = buildDenseNetGraph(config, tensors, settings);
  const metadata: Record<string, string> = { [CONFIG_METADATA_KEY]: JSON.stringify(config) };
  const pp = source.preprocessing;
  if (pp) metadata[PREPROCESSING_METADATA_KEY] = JSON.stringify(pp);
  if (pp?.classNames) metadata[CLASS_NAMES_METADATA_KEY] = JSON.stringify(pp.classNames);
  const bytes = encodeOnnxModel({
    irVersion: settings.irVersion,
    opset: settings.opset,
    producerName: 'densenet-sdk',
    producerVersion: sdkVersion(),
    docString: `DenseNet (k=${config.growthRate}, blocks ${config.blockConfig.join('-')}), eval mode; input NCHW float32, output logits`,
    graph: built.graph,
    metadata,
  });
  settings.throwIfAborted();
  await writeFileAtomicAsync(path, bytes);
  const [h, w] = settings.inputSize;
  return {
    path,
    opset: settings.opset,
    irVersion: settings.irVersion,
    inputShape: [settings.batch === 'dynamic' ? ONNX_BATCH_DIM : settings.batch, config.inChannels, h, w],
    foldedBatchNorms: [...built.foldedBatchNorms],
    batchNormNodes: [...built.batchNormNodes],
    nodeCount: built.graph.nodes.length,
    bytes: bytes.length,
  };
}
