/**
 * A minimal MATLAB MAT-file v5 reader (the format of SVHN's `*_32x32.mat`): numeric matrices,
 * little- or big-endian, plain or `miCOMPRESSED` (zlib) elements, MATLAB's narrowed storage types
 * (e.g. a `double` matrix stored as `miUINT8`). Cells, structs, sparse and char arrays are skipped.
 * v7.3 files (HDF5) are rejected with a clear message.
 *
 * @module
 */
import { inflateSync, constants as zc } from 'node:zlib';

import { boundedInflate, inflateHead } from './inflate.js';
import { DataError } from './errors.js';

/** MATLAB array classes this reader knows (others are reported as `other`). */
export type MatClass =
  | 'double'
  | 'single'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'char'
  | 'cell'
  | 'struct'
  | 'sparse'
  | 'other';

/** A numeric variable read from a MAT file. */
export interface MatVariable {
  /** Variable name. */
  name: string;
  /** MATLAB class (the logical type, not how it was stored). */
  className: MatClass;
  /** Dimensions as MATLAB reports them (column-major: the first dimension varies fastest in `real`). */
  dims: number[];
  /**
   * The real part, column-major. A zero-copy `Uint8Array`/`Int8Array` view when stored as 8-bit integers
   * (the file buffer may be modified in place by callers such as the SVHN reader); otherwise a `Float64Array`.
   * Empty for non-numeric classes.
   */
  real: Uint8Array | Int8Array | Float64Array;
  /** `true` for complex matrices (the imaginary part is not returned). */
  complex: boolean;
  /** `true` when MATLAB's logical flag is set. */
  logical: boolean;
}

/** Options of {@link readMat}. */
export interface ReadMatOptions {
  /** Only decode these variables (compressed elements of other names are not inflated in full). */
  only?: readonly string[];
}

const CLASS_NAMES: Record<number, MatClass> = {
  1: 'cell',
  2: 'struct',
  3: 'other',
  4: 'char',
  5: 'sparse',
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};

const MI_INT8 = 1;
const MI_UINT8 = 2;
const MI_INT32 = 5;
const MI_UINT32 = 6;
const MI_MATRIX = 14;
const MI_COMPRESSED = 15;
const MI_SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4 };

interface Tag {
  type: number;
  nbytes: number;
  data: number; // absolute offset of the payload
  next: number; // absolute offset of the next element
}

const ascii = new TextDecoder('latin1');

/**
 * Reads the numeric variables of a MAT v5 file.
 * @param input - the whole file
 * @param file - file name for error messages
 * @returns variables by name
 * @throws DataError `ERR_DATA_BAD_FORMAT` for a bad header, a v7.3/HDF5 or v4 file, an inconsistent element;
 *   `ERR_DATA_TRUNCATED` when an element runs past the end of the file (the element index is named).
 */
export function readMat(input: Uint8Array, file = '<mat>', opts: ReadMatOptions = {}): Map<string, MatVariable> {
  const buf = Object.getPrototypeOf(input) === Uint8Array.prototype ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < 128) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `bad .mat header: file has ${buf.length} bytes, a MAT v5 header needs 128`, { file });
  }
  const text = ascii.decode(buf.subarray(0, 116));
  const endian = ascii.decode(buf.subarray(126, 128));
  if (!text.startsWith('MATLAB')) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `bad .mat header: not a MAT v5 file (header text ${JSON.stringify(text.slice(0, 20))}; MAT v4 is not supported)`, { file });
  }
  if (/MATLAB 7\.3/.test(text) || (buf.length >= 520 && ascii.decode(buf.subarray(512, 516)) === '\x89HDF')) {
    throw new DataError('ERR_DATA_BAD_FORMAT', 'bad .mat header: MAT v7.3 (HDF5) is not supported; save with -v7 or -v6', { file });
  }
  if (endian !== 'IM' && endian !== 'MI') {
    throw new DataError('ERR_DATA_BAD_FORMAT', `bad .mat header: endian indicator ${JSON.stringify(endian)} is neither "IM" nor "MI"`, { file });
  }
  const le = endian === 'IM';
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint16(124, le);
  if (version !== 0x0100) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `bad .mat header: version 0x${version.toString(16)}, expected 0x0100`, { file });
  }
  const out = new Map<string, MatVariable>();
  let pos = 128;
  let index = 0;
  while (pos < buf.length) {
    if (buf.length - pos < 8) {
      if (buf.subarray(pos).every((b) => b === 0)) break;
      throw new DataError('ERR_DATA_TRUNCATED', `data element ${index}: ${buf.length - pos} bytes left, a tag needs 8`, { file });
    }
    const tag = readTag(dv, pos, buf.length, le, file, `data element ${index}`);
    if (tag.type === MI_COMPRESSED) {
      const z = buf.subarray(tag.data, tag.data + tag.nbytes);
      if (opts.only) {
        const name = peekCompressedName(z, le);
        if (name !== undefined && !opts.only.includes(name)) {
          pos = tag.next;
          index++;
          continue;
        }
      }
      // The inflated element's own tag declares its size: inflate no further than that.
      // A deflate block header can be long: read more of the stream until the 8-byte tag is out.
      let head: Buffer | undefined;
      for (const n of [1024, 16384, 262144]) {
        head = inflateHead(z, n);
        if ((head && head.length >= 8) || n >= z.length) break;
      }
      if (!head || head.length < 8) {
        throw new DataError('ERR_DATA_TRUNCATED', `data element ${index}: compressed data is corrupt or truncated (no element tag)`, { file });
      }
      const hdv = new DataView(head.buffer, head.byteOffset, head.byteLength);
      const declared = hdv.getUint32(0, le) >>> 16 !== 0 ? 8 : 8 + hdv.getUint32(4, le);
      const b = boundedInflate(z, declared, file, `data element ${index}`);
      const inner = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      const idv = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
      const itag = readTag(idv, 0, inner.length, le, file, `data element ${index} (inflated)`);
      if (itag.type === MI_MATRIX) {
        const v = readMatrix(inner, idv, itag, le, file, index);
        if (v && (!opts.only || opts.only.includes(v.name))) out.set(v.name, v);
      }
    } else if (tag.type === MI_MATRIX) {
      const v = readMatrix(buf, dv, tag, le, file, index);
      if (v && (!opts.only || opts.only.includes(v.name))) out.set(v.name, v);
    }
    pos = tag.next;
    index++;
  }
  return out;
}

function readTag(dv: DataView, pos: number, end: number, le: boolean, file: string, what: string): Tag {
  if (end - pos < 8) throw new DataError('ERR_DATA_TRUNCATED', `${what}: tag needs 8 bytes, ${end - pos} left`, { file });
  const w0 = dv.getUint32(pos, le);
  if (w0 >>> 16 !== 0) {
    // Small data element: 2-byte size, 2-byte type and up to 4 bytes of data in one 8-byte block.
    const nbytes = w0 >>> 16;
    if (nbytes > 4) throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: small element declares ${nbytes} bytes (max 4)`, { file });
    return { type: w0 & 0xffff, nbytes, data: pos + 4, next: pos + 8 };
  }
  const type = w0;
  const nbytes = dv.getUint32(pos + 4, le);
  const data = pos + 8;
  if (data + nbytes > end) {
    throw new DataError('ERR_DATA_TRUNCATED', `${what}: type ${type} declares ${nbytes} bytes, only ${end - data} left`, { file });
  }
  const next = type === MI_COMPRESSED ? data + nbytes : data + Math.ceil(nbytes / 8) * 8;
  return { type, nbytes, data, next: Math.min(next, end) };
}

function peekCompressedName(z: Uint8Array, le: boolean): string | undefined {
  try {
    const head = inflateSync(z.subarray(0, Math.min(z.length, 1024)), { finishFlush: zc.Z_SYNC_FLUSH });
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    // matrix tag (8) + flags (16) + dims tag, then the name element.
    if (head.length < 40 || dv.getUint32(0, le) !== MI_MATRIX) return undefined;
    let p = 8 + 16;
    const dimsTag = readTag(dv, p, head.length, le, '', '');
    p = dimsTag.next;
    const nameTag = readTag(dv, p, head.length, le, '', '');
    return ascii.decode(head.subarray(nameTag.data, nameTag.data + nameTag.nbytes));
  } catch {
    return undefined;
  }
}

function readMatrix(buf: Uint8Array, dv: DataView, tag: Tag, le: boolean, file: string, index: number): MatVariable | undefined {
  const end = tag.data + tag.nbytes;
  const what = `data element ${index}`;
  if (tag.nbytes === 0) return undefined; // empty placeholder
  let p = tag.data;
  const flagsTag = readTag(dv, p, end, le, file, `${what} (array flags)`);
  if (flagsTag.type !== MI_UINT32 || flagsTag.nbytes < 8) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: array flags must be miUINT32[2], got type ${flagsTag.type} of ${flagsTag.nbytes} bytes`, { file });
  }
  const flags = dv.getUint32(flagsTag.data, le);
  const classId = flags & 0xff;
  const className = CLASS_NAMES[classId] ?? 'other';
  const complex = (flags & 0x800) !== 0;
  const logical = (flags & 0x200) !== 0;
  p = flagsTag.next;
  const dimsTag = readTag(dv, p, end, le, file, `${what} (dimensions)`);
  if (dimsTag.type !== MI_INT32 || dimsTag.nbytes % 4 !== 0 || dimsTag.nbytes < 8) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: dimensions must be miINT32[>=2], got type ${dimsTag.type} of ${dimsTag.nbytes} bytes`, { file });
  }
  const dims: number[] = [];
  for (let i = 0; i < dimsTag.nbytes / 4; i++) {
    const d = dv.getInt32(dimsTag.data + 4 * i, le);
    if (d < 0) throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: negative dimension ${d}`, { file });
    dims.push(d);
  }
  p = dimsTag.next;
  const nameTag = readTag(dv, p, end, le, file, `${what} (array name)`);
  if (nameTag.type !== MI_INT8 && nameTag.type !== MI_UINT8) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: array name must be miINT8, got type ${nameTag.type}`, { file });
  }
  const name = ascii.decode(buf.subarray(nameTag.data, nameTag.data + nameTag.nbytes));
  p = nameTag.next;
  if (classId < 6 || classId > 15) {
    return { name, className, dims, real: new Float64Array(0), complex, logical };
  }
  const numel = dims.reduce((a, b) => a * b, 1);
  const realTag = readTag(dv, p, end, le, file, `${what} (${name} real part)`);
  const esize = MI_SIZES[realTag.type];
  if (esize === undefined) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `${what}: variable ${name} has unsupported storage type ${realTag.type}`, { file });
  }
  const count = realTag.nbytes / esize;
  if (count !== numel) {
    throw new DataError(
      count < numel ? 'ERR_DATA_TRUNCATED' : 'ERR_DATA_BAD_FORMAT',
      `${what}: variable ${name} has ${count} values, dimensions ${dims.join('x')} need ${numel}`,
      { file },
    );
  }
  let real: Uint8Array | Int8Array | Float64Array;
  if (realTag.type === MI_UINT8) real = buf.subarray(realTag.data, realTag.data + count);
  else if (realTag.type === MI_INT8) real = new Int8Array(buf.buffer, buf.byteOffset + realTag.data, count);
  else real = decodeNumbers(dv, realTag.data, count, realTag.type, le);
  return { name, className, dims, real, complex, logical };
}

function decodeNumbers(dv: DataView, off: number, n: number, type: number, le: boolean): Float64Array {
  const out = new Float64Array(n);
  switch (type) {
    case 3:
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(off + 2 * i, le);
      break;
    case 4:
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(off + 2 * i, le);
      break;
    case 5:
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(off + 4 * i, le);
      break;
    case 6:
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(off + 4 * i, le);
      break;
    case 7:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(off + 4 * i, le);
      break;
    case 9:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(off + 8 * i, le);
      break;
    case 12:
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(off + 8 * i, le));
      break;
    case 13:
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(off + 8 * i, le));
      break;
    default:
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(off + i);
  }
  return out;
}
