/**
 * A minimal zip reader for PyTorch's `torch.save` archives: the central directory (zip64 too),
 * stored and deflated entries, CRC-32 checked. Every size and offset is checked against the
 * file, so a truncated or corrupt archive is a {@link WeightsError} naming the file and the entry,
 * never a RangeError, and a deflated entry never inflates past the size it declares.
 *
 * @module
 * @internal
 */
import * as zlib from 'node:zlib';

import { WeightsError } from '../errors.js';

/** One file of the archive, as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive (`archive/data.pkl`). */
  name: string;
  /** 0 (stored) or 8 (deflate). */
  method: number;
  /** CRC-32 of the uncompressed bytes. */
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local file header. */
  headerOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const utf8 = new TextDecoder('utf-8');

/** Whether the bytes start like a zip archive (a local file header, or an empty archive). */
export function looksLikeZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6));
}

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (zlib's own when Node has it, ≥ 20.15 / 22.2). */
function crc32(b: Uint8Array): number {
  // A namespace import: a named import of a missing builtin export fails at link time on Node 20.9.
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(b) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip archive opened from its bytes. */
export class ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  readonly #bytes: Uint8Array;
  readonly #dv: DataView;
  readonly #file: string;

  /**
   * @param bytes - the whole archive
   * @param file - the file, for errors
   * @throws {@link WeightsError} when the archive is truncated or its directory is corrupt
   */
  constructor(bytes: Uint8Array, file: string) {
    this.#bytes = bytes;
    this.#file = file;
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.entries = this.#readDirectory();
  }

  #fail(msg: string): never {
    throw new WeightsError(`${this.#file}: not a readable zip archive (truncated or corrupt?): ${msg}`);
  }

  #u16(at: number): number {
    if (at + 2 > this.#bytes.length) this.#fail(`a record at offset ${at} runs past the end of the file (${this.#bytes.length} bytes)`);
    return this.#dv.getUint16(at, true);
  }

  #u32(at: number): number {
    if (at + 4 > this.#bytes.length) this.#fail(`a record at offset ${at} runs past the end of the file (${this.#bytes.length} bytes)`);
    return this.#dv.getUint32(at, true);
  }

  #u64(at: number): number {
    if (at + 8 > this.#bytes.length) this.#fail(`a record at offset ${at} runs past the end of the file (${this.#bytes.length} bytes)`);
    const v = this.#dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.#fail(`a 64-bit size at offset ${at} is too large (${v})`);
    return Number(v);
  }

  #readDirectory(): Map<string, ZipEntry> {
    const b = this.#bytes;
    // The end-of-central-directory record: 22 bytes plus a comment of at most 65535.
    let eocd = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
      if (b[i] === 0x50 && b[i + 1] === 0x4b && this.#dv.getUint32(i, true) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.#fail(`no end-of-central-directory record (${b.length} bytes)`);
    let count = this.#u16(eocd + 10);
    let dirSize = this.#u32(eocd + 12);
    let dirOffset = this.#u32(eocd + 16);
    if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.#u32(loc) !== ZIP64_LOCATOR) this.#fail('a zip64 archive without its zip64 locator');
      const z = this.#u64(loc + 8);
      if (this.#u32(z) !== ZIP64_EOCD) this.#fail(`no zip64 end-of-central-directory record at offset ${z}`);
      count = this.#u64(z + 32);
      dirSize = this.#u64(z + 40);
      dirOffset = this.#u64(z + 48);
    }
    if (dirOffset + dirSize > b.length) this.#fail(`the central directory (offset ${dirOffset}, ${dirSize} bytes) runs past the end of the file (${b.length} bytes)`);
    const entries = new Map<string, ZipEntry>();
    let p = dirOffset;
    for (let i = 0; i < count; i++) {
      if (this.#u32(p) !== CENTRAL) this.#fail(`central directory entry ${i} at offset ${p} has a bad signature`);
      const flags = this.#u16(p + 8);
      const method = this.#u16(p + 10);
      const crc = this.#u32(p + 16);
      let compressedSize = this.#u32(p + 20);
      let size = this.#u32(p + 24);
      const nameLen = this.#u16(p + 28);
      const extraLen = this.#u16(p + 30);
      const commentLen = this.#u16(p + 32);
      let headerOffset = this.#u32(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > dirOffset + dirSize) this.#fail(`central directory entry ${i} runs past the directory`);
      const name = utf8.decode(b.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended information: the 64-bit values, in this order, of the fields set to 0xffffffff.
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      while (q + 4 <= extraEnd) {
        const id = this.#u16(q);
        const len = this.#u16(q + 2);
        if (id === 0x0001) {
          let r = q + 4;
          if (size === 0xffffffff) (size = this.#u64(r)), (r += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.#u64(r)), (r += 8);
          if (headerOffset === 0xffffffff) headerOffset = this.#u64(r);
        }
        q += 4 + len;
      }
      if (flags & 1) this.#fail(`entry ${name} is encrypted`);
      if (method !== 0 && method !== 8) this.#fail(`entry ${name} uses compression method ${method} (only stored and deflate are supported)`);
      entries.set(name, { name, method, crc, compressedSize, size, headerOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  /**
   * The uncompressed bytes of an entry (a view into the archive when it is stored).
   *
   * @param entry - an entry of {@link ZipArchive.entries}
   * @throws {@link WeightsError} naming the entry when its data is truncated or fails its CRC
   */
  read(entry: ZipEntry): Uint8Array {
    const b = this.#bytes;
    const h = entry.headerOffset;
    if (this.#u32(h) !== LOCAL) this.#fail(`entry ${entry.name}: no local file header at offset ${h}`);
    const start = h + 30 + this.#u16(h + 26) + this.#u16(h + 28);
    const end = start + entry.compressedSize;
    if (end > b.length) this.#fail(`entry ${entry.name}: its ${entry.compressedSize} bytes at offset ${start} run past the end of the file (${b.length} bytes)`);
    const raw = b.subarray(start, end);
    let data: Uint8Array;
    if (entry.method === 0) {
      if (entry.size !== entry.compressedSize) this.#fail(`entry ${entry.name}: stored, but its sizes differ (${entry.compressedSize} vs ${entry.size})`);
      data = raw;
    } else {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
      } catch (e) {
        this.#fail(`entry ${entry.name}: deflate data is corrupt or inflates past its declared ${entry.size} bytes (${(e as Error).message})`);
      }
      if (data.length !== entry.size) this.#fail(`entry ${entry.name}: inflates to ${data.length} bytes, its header declares ${entry.size}`);
    }
    const crc = crc32(data);
    if (crc !== entry.crc) this.#fail(`entry ${entry.name}: CRC-32 mismatch (0x${crc.toString(16)}, expected 0x${entry.crc.toString(16)})`);
    return data;
  }
}
