/**
 * What `DenseNet.load` hands to the core for a weights file: the path itself (a safetensors file
 * with torchvision's names; the core reads it), or safetensors bytes converted here (a PyTorch
 * `.pth` / `.pt` / `.bin`, or a safetensors file with old torchvision / `module.` names). The
 * format is told by the file's magic bytes, not its extension.
 *
 * @module
 * @internal
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

import { DenseNetError, IoError } from '../errors.js';
import { canonicalTensorName, canonicalTensors, encodeSafetensors, remapSafetensors, safetensorsHeader } from './convert.js';
import { detectWeightsFormat, readTorchFile, type WeightsFormat } from './pth.js';

function ioError(path: string, err: unknown): IoError {
  return new IoError(`cannot read weights file ${path}: ${(err as Error).message}`, { cause: err });
}

/** `read(fd)` on `path`, a regular file opened for reading; any failure becomes an IoError naming it. */
function readingFile<R>(path: string, read: (fd: number) => R): R {
  checkRegularFile(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw ioError(path, err);
  }
  try {
    return read(fd);
  } catch (err) {
    throw ioError(path, err);
  } finally {
    closeSync(fd);
  }
}

/** Refuses what is not a regular file (a FIFO would block an open). */
function checkRegularFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw ioError(path, err);
  }
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or other special file';
    throw new IoError(`cannot read weights file ${path}: it is ${kind}, not a regular file`);
  }
}

/**
 * The format of a weights file, from its first bytes.
 *
 * @param path - the file
 * @throws {@link IoError} when it cannot be read or is not a regular file
 */
export function weightsFormatOf(path: string): WeightsFormat {
  return readingFile(path, (fd) => {
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    return detectWeightsFormat(head.subarray(0, n));
  });
}

/** The first 8 + header-length bytes of a safetensors file (fewer when the file is shorter). */
function readHeader(path: string): Uint8Array {
  return readingFile(path, (fd) => {
    const lenBuf = Buffer.alloc(8);
    const got = readSync(fd, lenBuf, 0, 8, 0);
    const len = got === 8 ? Number(lenBuf.readBigUInt64LE(0)) : 0;
    const out = Buffer.alloc(8 + Math.min(Math.max(len, 0), 100_000_000));
    lenBuf.copy(out, 0);
    const n = out.length > 8 ? readSync(fd, out, 8, out.length - 8, 8) : 0;
    return new Uint8Array(out.buffer, out.byteOffset, 8 + n);
  });
}

function readAll(path: string): Uint8Array {
  checkRegularFile(path);
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (err) {
    throw ioError(path, err);
  }
}

/**
 * The safetensors bytes to load for `path`, or `null` when the core can read the file as it is.
 *
 * @param path - the weights file
 * @param format - its format, when already known
 * @throws {@link IoError} when it cannot be read; {@link WeightsError} naming the file and the
 *   tensor / entry / global when a PyTorch file is corrupt or refused
 */
export function weightsBytesFor(path: string, format: WeightsFormat = weightsFormatOf(path)): Uint8Array | null {
  if (format === 'pytorch-zip' || format === 'pytorch-legacy') {
    return encodeSafetensors(canonicalTensors(readTorchFile(readAll(path), path), path));
  }
  if (format === 'safetensors') {
    try {
      // Only the header is read unless a name needs mapping.
      if (safetensorsHeader(readHeader(path), path).names.every((n) => canonicalTensorName(n) === n)) return null;
      return remapSafetensors(readAll(path), path);
    } catch (err) {
      // A header the core would reject anyway: let the core give its usual error.
      if (err instanceof DenseNetError && err.code === 'ERR_WEIGHTS') return null;
      throw err;
    }
  }
  return null;
}

/**
 * Every tensor's shape in a PyTorch file, by the name the core loads it under.
 *
 * @param path - a `.pth` / `.pt` / `.bin` file
 * @throws {@link IoError} when it cannot be read; {@link WeightsError} when it is corrupt or refused
 */
export function torchTensorShapes(path: string): Record<string, number[]> {
  const tensors = canonicalTensors(readTorchFile(readAll(path), path), path);
  return Object.fromEntries(tensors.map((t) => [t.name, [...t.shape]]));
}
