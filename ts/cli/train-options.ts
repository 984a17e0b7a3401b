/**
 * The options of `densenet train`: their type, the parsers of their values, and the options a
 * run stores in its output directory so that `--resume` needs only `--out`.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { InvalidArgumentError as CommanderArgError } from 'commander';

import { InvalidArgumentError } from '../errors.js';
import type { DType, MemoryMode } from '../model.js';
import type { TrainDatasetName } from '../train/data.js';

/** Options of the `train` command (after parsing). */
export interface TrainCommandOptions {
  dataset: TrainDatasetName;
  data?: string;
  download?: boolean;
  preset?: string;
  config?: string;
  epochs?: number;
  batchSize?: number;
  evalBatchSize?: number;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule?: 'multistep' | 'cosine';
  milestones?: number[];
  gamma?: number;
  validationSize?: number;
  augment?: boolean;
  seed?: number;
  threads?: number;
  dtype?: DType;
  device?: 'cpu' | 'cuda' | `cuda:${number}`;
  memoryMode?: MemoryMode;
  imageSize?: number;
  out?: string;
  resume?: boolean;
  force?: boolean;
  json?: boolean;
  limit?: number;
  syncBn?: boolean;
  /** Fine-tuning: weights to start from (safetensors or PyTorch); the classifier is replaced when the class count differs. */
  initFrom?: string;
  /** Fine-tuning: parameters frozen from the start (name prefixes or stages). */
  freeze?: string[];
  /** Fine-tuning: lr of the feature extractor (`features`); the classifier keeps `--lr`. */
  backboneLr?: number;
  /** Fine-tuning: the epoch from which `--freeze`'s parameters train again. */
  unfreezeAt?: number;
}

/** The file in the output directory that records the command's options, so that `--resume` needs only `--out`. */
export const CLI_OPTIONS_FILE = 'train-options.json';

/** Option keys restored from {@link CLI_OPTIONS_FILE} on `--resume` unless given again on the command line. */
export const STORED_KEYS = [
  'syncBn',
  'dataset',
  'data',
  'preset',
  'config',
  'epochs',
  'batchSize',
  'evalBatchSize',
  'lr',
  'momentum',
  'nesterov',
  'weightDecay',
  'schedule',
  'milestones',
  'gamma',
  'validationSize',
  'augment',
  'seed',
  'dtype',
  'memoryMode',
  'imageSize',
  'limit',
  'initFrom',
  'freeze',
  'backboneLr',
  'unfreezeAt',
] as const;

/** Commander parser of an integer >= 0. */
export function parseNonNegInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new CommanderArgError('must be an integer >= 0.');
  return n;
}

/** Commander parser of a comma-separated list of freeze specs. */
export function parseSpecList(value: string): string[] {
  const list = value.split(',').map((v) => v.trim());
  if (list.some((v) => v === '')) throw new CommanderArgError('must be a comma-separated list of parameter name prefixes or stages, e.g. features or stem,block1,block2.');
  return list;
}

/** Commander parser of a number >= 0. */
export function parseNonNegNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new CommanderArgError('must be a number >= 0.');
  return n;
}

/** The options a run was started with; a missing or unreadable file is an error (nothing is rewritten). */
export function readStoredOptions(outDir: string): Partial<TrainCommandOptions> {
  const file = join(outDir, CLI_OPTIONS_FILE);
  if (!existsSync(file)) {
    throw new InvalidArgumentError(`--resume: ${file} is missing, so the run's options are unknown; restore it, or start over with --force`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`--resume: ${file} is not valid JSON (${(err as Error).message}); restore it, or start over with --force`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`--resume: ${file} must hold a JSON object of options; restore it, or start over with --force`);
  }
  return parsed as Partial<TrainCommandOptions>;
}
