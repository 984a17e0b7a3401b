/**
 * Decompression bounded by what the format declares: a small file can never make the reader
 * allocate more than its header (or trailer) says it holds, nor more than deflate can produce
 * from that many bytes (at most 1032× plus a little).
 *
 * @module
 * @internal
 */
import { gunzipSync, inflateSync, constants as zc } from 'node:zlib';

import { DataError } from './errors.js';

/** The most a deflate stream of `compressed` bytes can decompress to (zlib's ratio limit, 1032:1). */
export function deflateBound(compressed: number): number {
  return compressed * 1032 + 1024;
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * gunzip, refusing output beyond the size the gzip trailer declares (ISIZE, the size mod 2³²)
 * and beyond the deflate bound of the input.
 *
 * @param gz - a gzip file's bytes
 * @param file - the file, for errors
 */
export function boundedGunzip(gz: Uint8Array, file: string): Buffer {
  if (gz.length < 18) throw new DataError('ERR_DATA_TRUNCATED', `not a complete gzip stream (${gz.length} bytes)`, { file });
  const isize = new DataView(gz.buffer, gz.byteOffset, gz.byteLength).getUint32(gz.length - 4, true);
  const bound = deflateBound(gz.length);
  // ISIZE is the size mod 2^32: below the bound it is the exact size, above it says nothing more.
  const limit = isize < bound ? Math.max(isize, 1) : bound;
  try {
    return gunzipSync(gz, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError('ERR_DATA_BAD_FORMAT', `gzip stream decompresses past the ${mib(limit)} its trailer declares (a ${mib(gz.length)} file)`, { file, cause: e });
    }
    throw new DataError('ERR_DATA_TRUNCATED', `not a complete gzip stream (${(e as Error).message})`, { file, cause: e });
  }
}

/**
 * inflate (zlib) into at most `declared` bytes (and the deflate bound of the input).
 *
 * @param z - zlib stream
 * @param declared - the size the enclosing format declares for the output
 * @param file - the file, for errors
 * @param what - the element, for errors
 */
export function boundedInflate(z: Uint8Array, declared: number, file: string, what: string): Buffer {
  const limit = Math.min(declared, deflateBound(z.length));
  try {
    return inflateSync(z, { maxOutputLength: Math.max(limit, 1) });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: compressed data decompresses past the ${mib(limit)} it declares`, { file, cause: e });
    }
    throw new DataError('ERR_DATA_TRUNCATED', `${what}: compressed data is corrupt or truncated (${(e as Error).message})`, { file, cause: e });
  }
}

/** The first bytes of a zlib stream (for reading a declared size), or undefined when unreadable. */
export function inflateHead(z: Uint8Array, bytes = 1024): Buffer | undefined {
  try {
    return inflateSync(z.subarray(0, Math.min(z.length, bytes)), { finishFlush: zc.Z_SYNC_FLUSH });
  } catch {
    return undefined;
  }
}
