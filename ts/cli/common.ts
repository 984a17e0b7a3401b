/**
 * Shared helpers of the `densenet` CLI: argument parsers, config resolution, error reporting.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';

import { InvalidArgumentError as CommanderArgError } from 'commander';

import { ConfigError, DenseNetError, IoError } from '../errors.js';
import { createConfig, isPresetName, type ModelConfig, type PresetName } from '../config.js';
import { loadNative } from '../native.js';

/** A config named on the command line: a preset or a JSON file, resolved and normalized. */
export interface ResolvedConfig {
  /** The preset name when the argument was a preset (or a JSON file with a `preset` field), else `null`. */
  preset: PresetName | null;
  /** The normalized config. */
  config: ModelConfig;
  /** Where it came from: the preset name or the file path. */
  source: string;
}

/**
 * Resolves a `<preset|config.json>` argument. A JSON file holds a (partial) {@link ModelConfig},
 * optionally with a `preset` field to start from.
 *
 * @param arg - preset name or path to a JSON file
 * @throws {@link ConfigError} for an unknown preset or an invalid file; {@link IoError} for an unreadable file
 */
export function resolveConfigArg(arg: string): ResolvedConfig {
  if (isPresetName(arg)) return { preset: arg, config: createConfig(arg), source: arg };
  const looksLikeFile = arg.endsWith('.json') || arg.includes('/') || arg.includes('\\');
  if (!existsSync(arg)) {
    if (looksLikeFile) throw new IoError(`config file not found: ${arg}`);
    throw new ConfigError(`unknown preset "${arg}" (and no such file); known presets: ${loadNative().presetNames().join(', ')}`);
  }
  let text: string;
  try {
    text = readFileSync(arg, 'utf8');
  } catch (err) {
    throw new IoError(`cannot read config file ${arg}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${arg} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError(`config file ${arg} must hold a JSON object`);
  }
  const preset = (json as { preset?: unknown }).preset;
  const config = createConfig(json as Parameters<typeof createConfig>[0]);
  return { preset: isPresetName(preset) ? preset : null, config, source: arg };
}

/**
 * Commander argument parser for a positive integer.
 *
 * @param value - the raw option value
 */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new CommanderArgError('must be a positive integer.');
  }
  return n;
}

/**
 * Commander argument parser for an input size: `N` (square) or `HxW`.
 *
 * @param value - the raw option value
 * @returns `[height, width]`
 */
export function parseInputSize(value: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:[x×,]\s*(\d+)\s*)?$/i.exec(value);
  const h = m ? Number(m[1]) : NaN;
  const w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(h >= 1 && w >= 1)) throw new CommanderArgError('must be N or HxW with positive integers.');
  return [h, w];
}

/**
 * Commander argument parser for a comma-separated list of numbers (`0.5,0.5,0.5`).
 *
 * @param value - the raw option value
 */
export function parseNumberList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n))) {
    throw new CommanderArgError('must be a comma-separated list of numbers.');
  }
  return nums;
}

export { formatInt } from './format.js';

/**
 * Writes a CLI warning (or note) to stderr: `densenet <command>: warning: <message>`.
 *
 * @param command - the subcommand, e.g. `predict`
 * @param message - the warning
 * @param kind - `warning` (default) or `note` (information, e.g. which default file is used)
 */
export function warn(command: string, message: string, kind: 'warning' | 'note' = 'warning'): void {
  process.stderr.write(`densenet ${command}: ${kind}: ${message}\n`);
}

/**
 * Writes a CLI error to stderr: `densenet: <message>` (plus the stack and causes when
 * `DENSENET_DEBUG=1`).
 *
 * @param err - the thrown value
 */
export function reportError(err: unknown): void {
  const debug = process.env.DENSENET_DEBUG === '1';
  if (debug && err instanceof Error) {
    process.stderr.write(`densenet: ${err.stack ?? err.message}\n`);
    let cause = err.cause;
    while (cause instanceof Error) {
      process.stderr.write(`caused by: ${cause.stack ?? cause.message}\n`);
      cause = cause.cause;
    }
    return;
  }
  const msg = err instanceof Error ? err.message : String(err);
  const code = err instanceof DenseNetError ? ` [${err.code}]` : '';
  process.stderr.write(`densenet: ${msg}${code}\n`);
  if (!(err instanceof DenseNetError)) {
    process.stderr.write('(set DENSENET_DEBUG=1 for a stack trace)\n');
  }
}

/** Parses `--device`: `cpu`, `cuda` or `cuda:N` (the CUDA build of the addon runs the last two). */
export function parseDevice(value: string): 'cpu' | 'cuda' | `cuda:${number}` {
  if (!/^(cpu|cuda(:\d+)?)$/.test(value)) throw new CommanderArgError("must be 'cpu', 'cuda' or 'cuda:N'.");
  return value as 'cpu' | 'cuda' | `cuda:${number}`;
}
