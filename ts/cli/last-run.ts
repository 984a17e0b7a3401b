/**
 * The model of the last `densenet train`: `densenet train` records its output directory in
 * `runs/last-run.json` under the current directory (the parent of its default output directory
 * `runs/<dataset>`, whatever `--out` is) as soon as it has written a model, and `densenet eval` and
 * `densenet predict` use that run's `best.safetensors` when no `--model` is given.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

import { InvalidArgumentError } from '../errors.js';
import { makeDirectory, writeJsonAtomic } from '../train/io.js';
import { trainPaths } from '../train/train.js';

/** Where the last run is recorded, relative to the current directory. */
export const LAST_RUN_FILE = join('runs', 'last-run.json');

/** The contents of {@link LAST_RUN_FILE}. */
export interface LastRun {
  /** Format version. */
  version: 1;
  /** The run's output directory (absolute). */
  outDir: string;
  /** Its best model (absolute): `outDir/best.safetensors`. */
  model: string;
  /** The data set it trained on. */
  dataset: string;
  /** The data root or image folder it used (absolute), if one was given. */
  data?: string;
  /** When it was recorded (ISO 8601). */
  recordedAt: string;
}

/**
 * Records a run as the last one (atomically).
 *
 * @param run - the output directory, the data set and its root
 * @param cwd - the directory whose `runs/` holds the record (default: the current directory)
 */
export function recordLastRun(run: { outDir: string; dataset: string; data?: string }, cwd = process.cwd()): void {
  const file = resolve(cwd, LAST_RUN_FILE);
  makeDirectory(dirname(file));
  const record: LastRun = {
    version: 1,
    outDir: resolve(run.outDir),
    model: trainPaths(run.outDir).best,
    dataset: run.dataset,
    ...(run.data !== undefined ? { data: resolve(cwd, run.data) } : {}),
    recordedAt: new Date().toISOString(),
  };
  writeJsonAtomic(file, record);
}

/** A path as the user would type it: relative when it is under the current directory. */
export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/**
 * The last run's model, for a command run without `--model`.
 *
 * @param command - `eval` or `predict`, for the messages
 * @param cwd - the directory whose `runs/` holds the record (default: the current directory)
 * @throws {@link InvalidArgumentError} when no run is recorded, the record is unreadable, or its model file is gone
 */
export function lastRunModel(command: string, cwd = process.cwd()): LastRun {
  const file = resolve(cwd, LAST_RUN_FILE);
  const hint = `pass --model FILE, or train one first with \`densenet train\``;
  if (!existsSync(file)) {
    throw new InvalidArgumentError(
      `densenet ${command}: no --model given and no trained model recorded here (${displayPath(file, cwd)} does not exist: ` +
        `\`densenet train\` writes it in the directory it runs in); ${hint}`,
    );
  }
  let run: LastRun;
  try {
    run = JSON.parse(readFileSync(file, 'utf8')) as LastRun;
    if (typeof run.model !== 'string' || typeof run.outDir !== 'string' || typeof run.dataset !== 'string') throw new Error('fields missing');
  } catch (err) {
    throw new InvalidArgumentError(`densenet ${command}: ${displayPath(file, cwd)} is not a record of a training run (${(err as Error).message}); ${hint}`, {
      cause: err,
    });
  }
  if (!existsSync(run.model)) {
    throw new InvalidArgumentError(
      `densenet ${command}: the last training run (${displayPath(run.outDir, cwd)}, recorded in ${displayPath(file, cwd)}) has no model: ` +
        `${displayPath(run.model, cwd)} does not exist; ${hint}`,
    );
  }
  return run;
}
