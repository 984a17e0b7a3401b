/**
 * A minimal tar reader and writer: POSIX ustar with the GNU long-name (`L`) and pax (`x`) extensions,
 * which covers the CIFAR archives and anything `tar` or Python's `tarfile` writes. In memory, no streaming.
 *
 * @module
 */
import { DataError } from './errors.js';

/** One member of a tar archive. */
export interface TarEntry {
  /** Path inside the archive, `/`-separated, as stored (may start with `./`). */
  name: string;
  /** `file` for regular files, `directory`, or `other` (links, devices, FIFOs: never extracted). */
  type: 'file' | 'directory' | 'other';
  /** File contents (a view into the archive buffer; empty for non-files). */
  data: Uint8Array;
  /** Unix permission bits from the header. */
  mode: number;
}

const BLOCK = 512;
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

function cstr(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return utf8.decode(b.subarray(off, end));
}

function octal(b: Uint8Array, off: number, len: number, what: string, file: string, index: number): number {
  if ((b[off]! & 0x80) !== 0) {
    // GNU base-256 encoding (big-endian, first byte's high bit is the marker).
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const s = latin1.decode(b.subarray(off, off + len)).replace(/[\0 ]+$/g, '').replace(/^[ ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new DataError('ERR_DATA_BAD_FORMAT', `tar entry ${index}: bad ${what} field ${JSON.stringify(s)}`, { file });
  return parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function parsePax(data: Uint8Array): Map<string, string> {
  const m = new Map<string, string>();
  const s = utf8.decode(data);
  let pos = 0;
  while (pos < s.length) {
    const sp = s.indexOf(' ', pos);
    if (sp < 0) break;
    const len = parseInt(s.slice(pos, sp), 10);
    if (!(len > 0)) break;
    const rec = s.slice(sp + 1, pos + len - 1); // drop trailing '\n'
    const eq = rec.indexOf('=');
    if (eq > 0) m.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return m;
}

/**
 * Parses a whole (already gunzipped) tar archive.
 * @param input - the archive bytes
 * @param file - archive name used in error messages
 * @returns the entries in archive order; file data are views into `buf`
 * @throws DataError `ERR_DATA_TRUNCATED` (entry index named) if the archive ends inside a header or a file body,
 *   `ERR_DATA_BAD_FORMAT` on a header checksum mismatch or malformed numeric field.
 */
export function readTar(input: Uint8Array, file = '<tar>'): TarEntry[] {
  const buf = Object.getPrototypeOf(input) === Uint8Array.prototype ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const out: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  let pax: Map<string, string> | undefined;
  let index = 0;
  while (pos < buf.length) {
    if (pos + BLOCK > buf.length) {
      // Some writers leave a short tail of zeros; anything else is a cut archive.
      if (buf.subarray(pos).every((x) => x === 0)) break;
      throw new DataError('ERR_DATA_TRUNCATED', `tar entry ${index}: archive ends inside a header (offset ${pos})`, { file });
    }
    if (isZeroBlock(buf, pos)) break; // end-of-archive marker
    const h = buf.subarray(pos, pos + BLOCK);
    const stored = octal(h, 148, 8, 'checksum', file, index);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== stored) {
      throw new DataError('ERR_DATA_BAD_FORMAT', `tar entry ${index}: header checksum ${stored} != computed ${sum} (offset ${pos}; not a tar archive?)`, { file });
    }
    let size = octal(h, 124, 12, 'size', file, index);
    const mode = octal(h, 100, 8, 'mode', file, index);
    const flag = String.fromCharCode(h[156]!);
    let name = cstr(h, 0, 100);
    const magic = latin1.decode(h.subarray(257, 262));
    if (magic === 'ustar') {
      const prefix = cstr(h, 345, 155);
      if (prefix !== '' && h[263] === 0x30 /* POSIX '00' version, not GNU */) name = `${prefix}/${name}`;
    }
    if (pax?.has('size')) size = Number(pax.get('size'));
    const dataStart = pos + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) {
      throw new DataError('ERR_DATA_TRUNCATED', `tar entry ${index} (${longName ?? pax?.get('path') ?? name}): needs ${size} bytes, archive ends after ${buf.length - dataStart}`, { file });
    }
    const data = buf.subarray(dataStart, dataEnd);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    index++;
    if (flag === 'L') {
      longName = cstr(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      pax = parsePax(data);
      continue;
    }
    if (flag === 'g' || flag === 'K') continue;
    if (longName !== undefined) name = longName;
    if (pax?.has('path')) name = pax.get('path')!;
    longName = undefined;
    pax = undefined;
    const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : 'other';
    out.push({ name, type, data: type === 'file' ? data : new Uint8Array(0), mode });
  }
  return out;
}

/** A file to put in an archive by {@link writeTar}. */
export interface TarInput {
  /** Path inside the archive (`/`-separated). Names over 100 bytes use a GNU long-name record. A trailing `/` makes a directory. */
  name: string;
  /** File contents (ignored for directories). */
  data?: Uint8Array;
  /** Permission bits, default 0o644 (0o755 for directories). */
  mode?: number;
}

function writeHeader(name: Uint8Array, size: number, flag: string, mode: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(name.subarray(0, 100), 0);
  const put = (off: number, len: number, v: number) => {
    const s = v.toString(8).padStart(len - 1, '0');
    for (let i = 0; i < len - 1; i++) h[off + i] = s.charCodeAt(i);
  };
  put(100, 8, mode);
  put(108, 8, 0);
  put(116, 8, 0);
  put(124, 12, size);
  put(136, 12, 0);
  h[156] = flag.charCodeAt(0);
  h.set([0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30], 257); // "ustar\0" "00"
  h.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  const cs = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) h[148 + i] = cs.charCodeAt(i);
  h[154] = 0;
  h[155] = 32;
  return h;
}

/**
 * Writes a tar archive (ustar, GNU long names) holding `entries`. Pair with `zlib.gzipSync` for a `.tar.gz`.
 * Used by the tests to build fake CIFAR archives; handy for packaging small data sets.
 */
export function writeTar(entries: readonly TarInput[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const pad = (n: number) => new Uint8Array((BLOCK - (n % BLOCK)) % BLOCK);
  for (const e of entries) {
    const isDir = e.name.endsWith('/');
    const nameBytes = enc.encode(e.name);
    if (nameBytes.length > 100) {
      const ln = new Uint8Array(nameBytes.length + 1);
      ln.set(nameBytes);
      parts.push(writeHeader(enc.encode('././@LongLink'), ln.length, 'L', 0o644), ln, pad(ln.length));
    }
    const data = isDir ? new Uint8Array(0) : (e.data ?? new Uint8Array(0));
    parts.push(writeHeader(nameBytes, data.length, isDir ? '5' : '0', e.mode ?? (isDir ? 0o755 : 0o644)), data, pad(data.length));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
  }
  return out;
}
