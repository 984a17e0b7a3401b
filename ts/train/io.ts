/**
 * Crash-safe file output of the training loop: atomic writes (temp file + fsync + rename) and the
 * per-epoch `results.csv` log.
 *
 * @module
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { InvalidArgumentError, IoError } from '../errors.js';

let tempCounter = 0;

/** A temp-file name next to `path` (same directory, so that the rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${++tempCounter}.tmp`);
}

/**
 * Writes `data` to `path` atomically: a reader sees the old file or the complete new one, never a
 * part. Writes a temp file in the same directory, fsyncs it, renames it over `path`.
 *
 * @param path - destination
 * @param data - file contents
 * @throws {@link IoError} when the file cannot be written
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
  try {
    // Make the rename itself durable (best effort: not every platform can fsync a directory).
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* ignore */
  }
}

/**
 * {@link writeFileAtomic} off the main thread: every step (write, fsync, rename) runs in libuv's pool,
 * so a slow disk never stalls the event loop. The training loop writes `results.csv` and `summary.json` this way.
 *
 * @param path - destination
 * @param data - file contents
 * @throws {@link IoError} when the file cannot be written (the temp file is removed)
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw writeError(path, err);
  }
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* best effort, as in writeFileAtomic */
  }
}

/** The error of a failed write, with the OS code users search for spelled out (EROFS, ENOSPC, EACCES). */
function writeError(path: string, err: unknown): IoError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'EROFS'
      ? ' (EROFS: the file system is read-only; choose another output directory)'
      : code === 'ENOSPC'
        ? ' (ENOSPC: the disk is full; nothing was written)'
        : code === 'EACCES' || code === 'EPERM'
          ? ' (no permission to write there; choose another output directory)'
          : '';
  return new IoError(`cannot write ${path}: ${(err as Error).message}${hint}`, { cause: err });
}

/**
 * Creates a directory and its missing parents, like `mkdir -p`. Node's recursive mkdir reports
 * ENOENT when a parent cannot be created on a read-only file system; here the error names the
 * directory and the real cause (EROFS, EACCES, ENOSPC, a file in the way), found by creating the
 * first missing parent alone.
 *
 * @throws {@link IoError} naming `path`
 */
export function makeDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
    return;
  } catch (err) {
    let first = path;
    while (!existsSync(dirname(first)) && dirname(first) !== first) first = dirname(first);
    let cause: unknown = err;
    try {
      mkdirSync(first);
      rmdirSync(first);
    } catch (e) {
      cause = e;
    }
    const code = (cause as NodeJS.ErrnoException).code;
    const where = first === path ? '' : ` (creating ${first})`;
    const hint =
      code === 'EROFS'
        ? ': EROFS: the file system is read-only; choose another output directory'
        : code === 'EACCES' || code === 'EPERM'
          ? `: ${code}: no permission to create it there; choose another output directory`
          : code === 'ENOSPC'
            ? ': ENOSPC: the disk is full'
            : code === 'EEXIST' || code === 'ENOTDIR'
              ? `: ${code}: a file that is not a directory is in the way`
              : `: ${(cause as Error).message}`;
    throw new IoError(`cannot create directory ${path}${where}${hint}`, { cause });
  }
}

/** Writes `value` as pretty JSON, atomically (see {@link writeFileAtomic}). */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** {@link writeJsonAtomic} off the main thread (see {@link writeFileAtomicAsync}). */
export async function writeJsonAtomicAsync(path: string, value: unknown): Promise<void> {
  await writeFileAtomicAsync(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * One row of `results.csv`: the metrics of one epoch. Errors are fractions in [0, 1] (not percent).
 *
 * @category Training
 */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean cross-entropy of the training batches of this epoch (train mode, before each update). */
  trainLoss: number;
  /** Fraction of training images misclassified during this epoch (train mode, before each update). */
  trainError: number;
  /** Mean cross-entropy on the validation set at the end of the epoch (eval mode); `null` without a validation set. */
  validLoss: number | null;
  /** Top-1 error on the validation set at the end of the epoch; `null` without a validation set. */
  validError: number | null;
  /** Top-1 error of the current model (end of this epoch) on the test set; `null` without a test set. */
  testError: number | null;
}

/**
 * The header of `results.csv`, exactly as the reference training code writes it.
 *
 * @category Training
 */
export const RESULTS_HEADER = 'epoch,train_loss,train_error,valid_loss,valid_error,test_error';

function fmt(v: number | null): string {
  if (v === null) return '';
  return Number.isInteger(v) ? String(v) : v.toFixed(6);
}

/** Formats records as the contents of `results.csv` (header + one line per epoch). */
export function formatResultsCsv(records: readonly EpochRecord[]): string {
  const lines = [RESULTS_HEADER];
  for (const r of records) {
    lines.push([String(r.epoch), fmt(r.trainLoss), fmt(r.trainError), fmt(r.validLoss), fmt(r.validError), fmt(r.testError)].join(','));
  }
  return lines.join('\n') + '\n';
}

/** Writes `results.csv` atomically. */
export function writeResultsCsv(path: string, records: readonly EpochRecord[]): void {
  writeFileAtomic(path, formatResultsCsv(records));
}

/** Writes `results.csv` atomically, off the main thread. */
export async function writeResultsCsvAsync(path: string, records: readonly EpochRecord[]): Promise<void> {
  await writeFileAtomicAsync(path, formatResultsCsv(records));
}

/**
 * Parses the contents of a `results.csv` (the header must be exactly {@link RESULTS_HEADER}; empty cells are `null`).
 *
 * @param text - file contents
 * @param file - name for error messages
 * @throws {@link InvalidArgumentError} naming the line for a bad header or row
 *
 * @category Training
 */
export function parseResultsCsv(text: string, file = 'results.csv'): EpochRecord[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0 || lines[0]!.trim() !== RESULTS_HEADER) {
    throw new InvalidArgumentError(`${file}: expected the header "${RESULTS_HEADER}", got "${lines[0] ?? ''}"`);
  }
  const num = (s: string, line: number, col: string, nullable: boolean): number | null => {
    if (s.trim() === '') {
      if (nullable) return null;
      throw new InvalidArgumentError(`${file}:${line}: ${col} is empty`);
    }
    const v = Number(s);
    if (!Number.isFinite(v)) throw new InvalidArgumentError(`${file}:${line}: ${col} is not a number: "${s}"`);
    return v;
  };
  return lines.slice(1).map((l, i) => {
    const line = i + 2;
    const c = l.split(',');
    if (c.length !== 6) throw new InvalidArgumentError(`${file}:${line}: expected 6 columns, got ${c.length}`);
    return {
      epoch: num(c[0]!, line, 'epoch', false)!,
      trainLoss: num(c[1]!, line, 'train_loss', false)!,
      trainError: num(c[2]!, line, 'train_error', false)!,
      validLoss: num(c[3]!, line, 'valid_loss', true),
      validError: num(c[4]!, line, 'valid_error', true),
      testError: num(c[5]!, line, 'test_error', true),
    };
  });
}

/**
 * Reads and parses a `results.csv` file (see {@link parseResultsCsv}).
 *
 * @category Training
 */
export function readResultsCsv(path: string): EpochRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new IoError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseResultsCsv(text, path);
}
