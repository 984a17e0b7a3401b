/**
 * A minimal protocol-buffers writer: the three wire types an ONNX model needs (varint,
 * 32-bit float, length-delimited), composed bottom-up so that nested messages and large
 * `raw_data` tensors are referenced, not copied, until the final {@link ProtoMessage.toBytes}.
 *
 * Encoding follows https://protobuf.dev/programming-guides/encoding/. Repeated scalars are
 * written unpacked (one tag per element), the proto2 default that `onnx.proto` (proto2) uses;
 * every protobuf parser accepts that form.
 *
 * @module
 * @internal
 */

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LENGTH_DELIMITED = 2;

const textEncoder = new TextEncoder();

function varintBytes(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf varint must be a non-negative safe integer, got ${value}`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

function tag(field: number, wireType: number): Uint8Array {
  return varintBytes(field * 8 + wireType);
}

/** One protobuf message under construction: a list of byte chunks and their total length. */
export class ProtoMessage {
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  /** Encoded length in bytes so far. */
  get length(): number {
    return this.#length;
  }

  #push(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  /** An `int64`/`int32`/enum field (non-negative values only: this writer needs no others). */
  varint(field: number, value: number): this {
    this.#push(tag(field, WIRE_VARINT));
    this.#push(varintBytes(value));
    return this;
  }

  /** A `float` field. */
  float32(field: number, value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.#push(tag(field, WIRE_FIXED32));
    this.#push(bytes);
    return this;
  }

  /** A `bytes` field; the array is referenced until {@link ProtoMessage.toBytes}, not copied. */
  bytes(field: number, value: Uint8Array): this {
    this.#push(tag(field, WIRE_LENGTH_DELIMITED));
    this.#push(varintBytes(value.length));
    this.#push(value);
    return this;
  }

  /** A `string` field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** An embedded message field. */
  message(field: number, value: ProtoMessage): this {
    this.#push(tag(field, WIRE_LENGTH_DELIMITED));
    this.#push(varintBytes(value.length));
    for (const chunk of value.#chunks) this.#push(chunk);
    return this;
  }

  /** The encoded message as one array. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}
