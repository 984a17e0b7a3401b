/**
 * The bytes of a pickle as the unpickler reads them: a cursor, the opcode being decoded (for
 * error messages), and the fixed-size and newline-terminated arguments of the opcodes.
 *
 * @internal
 * @module
 */
import { DataError } from './errors.js';
import { latin1, plain } from './pickle-values.js';

/** A cursor over the bytes of one pickle. */
export class PickleReader {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  /** Offset of the next byte to read. */
  pos: number;
  /** The opcode being decoded, and where it starts. */
  op = 0;
  opPos = 0;
  readonly #file: string;

  /** @param input - the bytes; @param file - name used in error messages; @param start - where the pickle starts */
  constructor(input: Uint8Array, file: string, start: number) {
    const buf = plain(input);
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (!Number.isSafeInteger(start) || start < 0 || start > buf.length) throw new DataError('ERR_DATA_BAD_FORMAT', `pickle start ${start} outside the ${buf.length} bytes`, { file });
    this.pos = start;
    this.#file = file;
  }

  /** Throws the typed error of the current opcode (its code and offset in the message). */
  fail = (msg: string, code: 'ERR_DATA_BAD_FORMAT' | 'ERR_DATA_TRUNCATED' = 'ERR_DATA_BAD_FORMAT'): never => {
    throw new DataError(code, `pickle opcode 0x${this.op.toString(16)} at offset ${this.opPos}: ${msg}`, { file: this.#file });
  };

  /** Fails (truncated) unless `n` more bytes are there. */
  need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail(`needs ${n} bytes, only ${this.buf.length - this.pos} left`, 'ERR_DATA_TRUNCATED');
  }

  /** The next `n` bytes (a view). */
  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`bad length ${n}`);
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    this.pos += 2;
    return this.dv.getUint16(this.pos - 2, true);
  }

  i32(): number {
    this.need(4);
    this.pos += 4;
    return this.dv.getInt32(this.pos - 4, true);
  }

  u32(): number {
    this.need(4);
    this.pos += 4;
    return this.dv.getUint32(this.pos - 4, true);
  }

  /** A 64-bit length; one past 2^53 fails. */
  u64(): number {
    this.need(8);
    this.pos += 8;
    const v = this.dv.getBigUint64(this.pos - 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} too large`);
    return Number(v);
  }

  /** A big-endian float64 (BINFLOAT). */
  f64be(): number {
    this.need(8);
    const v = this.dv.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  /** A newline-terminated text argument (latin-1). */
  line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('unterminated text argument', 'ERR_DATA_TRUNCATED');
    const s = latin1.decode(this.buf.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
}
