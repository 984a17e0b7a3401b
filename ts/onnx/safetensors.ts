/**
 * Reads the tensors of a safetensors file (https://github.com/huggingface/safetensors: an
 * 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte
 * range, then the little-endian data). Only the float dtypes the SDK writes: F32 and F64.
 *
 * @module
 * @internal
 */
import { readFile } from 'node:fs/promises';

import { IoError, WeightsError } from '../errors.js';

/** One tensor of a weights file, in the precision it was stored in. */
export interface StoredTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

const ELEMENT_BYTES = { F32: 4, F64: 8 } as const;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function decode(bytes: Uint8Array, dtype: keyof typeof ELEMENT_BYTES, count: number): Float32Array | Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

/**
 * Every tensor of a safetensors file, by name.
 *
 * @param path - the file
 * @throws {@link IoError} when it cannot be read; {@link WeightsError} when it is malformed or holds a dtype other than F32/F64
 */
export async function readSafetensorsTensors(path: string): Promise<Map<string, StoredTensor>> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    throw new IoError(`cannot read weights file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (file.length < 8) throw new WeightsError(`${path}: not a safetensors file (shorter than 8 bytes)`);
  const headerLength = Number(file.readBigUInt64LE(0));
  if (!(headerLength > 1 && 8 + headerLength <= file.length)) throw new WeightsError(`${path}: not a safetensors file (header length ${headerLength})`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new WeightsError(`${path}: the safetensors header is not valid JSON`, { cause: err });
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, StoredTensor>();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = value as HeaderEntry;
    if (entry.dtype !== 'F32' && entry.dtype !== 'F64') throw new WeightsError(`${path}: tensor ${name} has dtype ${String(entry.dtype)}; only F32 and F64 can be exported`);
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = entry.data_offsets;
    if (end - begin !== count * ELEMENT_BYTES[entry.dtype] || dataStart + end > file.length) {
      throw new WeightsError(`${path}: tensor ${name}'s byte range [${begin}, ${end}) does not fit its shape [${entry.shape.join(', ')}] or the file`);
    }
    tensors.set(name, { shape: [...entry.shape], data: decode(file.subarray(dataStart + begin, dataStart + end), entry.dtype, count) });
  }
  return tensors;
}
