/**
 * Hand-made PyTorch files for the .pth tests: a zip writer (stored or deflated records) and a
 * pickle writer for torch.save-style state dicts, so that hostile variants (a refused global, a
 * tensor past its storage, a wrong shape, an unknown key) can be built byte by byte.
 */
import * as zlib from 'node:zlib';

/** One zip entry to write. */
export interface ZipInput {
  name: string;
  data: Uint8Array;
}

/** A zip archive of the entries (method 8 when `deflate`, else stored), as torch.save writes it (no zip64). */
export function writeZip(entries: readonly ZipInput[], deflate = false): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = deflate ? zlib.deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = zlib.crc32(e.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(deflate ? 8 : 0, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, name, body);
    central.push(cd, name);
    offset += 30 + name.length + body.length;
  }
  const dir = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(dir.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...parts, dir, eocd]));
}

/** One tensor of a hand-made state dict. */
export interface PickledTensor {
  name: string;
  /** Storage key (the record `data/<key>`). */
  key: string;
  /** `torch.FloatStorage` etc.: the storage type's name under `torch`. */
  storageType: string;
  /** Elements the persistent id declares. */
  numel: number;
  offset: number;
  size: number[];
  stride: number[];
}

/** A BINUNICODE pickle opcode pushing `s`. */
export function pickleString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length, 0);
  return Buffer.concat([Buffer.from([0x58]), len, b]);
}

function int(n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 0x4a; // BININT
  b.writeInt32LE(n, 1);
  return b;
}

function global(module: string, name: string): Buffer {
  return Buffer.from(`c${module}\n${name}\n`, 'latin1');
}

function tuple(items: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([0x28]), ...items, Buffer.from([0x74])]); // MARK ... TUPLE
}

/**
 * A protocol-2 pickle of an `OrderedDict` of tensors as torch.save writes it
 * (`_rebuild_tensor_v2(persistent_load(('storage', torch.X, key, 'cpu', numel)), offset, size, stride, False, OrderedDict())`),
 * with `extra` raw pickle bytes pushed as the value of the key `extraName` when given.
 */
export function torchPickle(tensors: readonly PickledTensor[], extra?: { name: string; bytes: Uint8Array }, rebuild: '_rebuild_tensor_v2' | '_rebuild_tensor' = '_rebuild_tensor_v2'): Uint8Array {
  const out: Buffer[] = [Buffer.from([0x80, 0x02]), global('collections', 'OrderedDict'), Buffer.from([0x29, 0x52])]; // () REDUCE
  for (const t of tensors) {
    const pid = tuple([pickleString('storage'), global('torch', t.storageType), pickleString(t.key), pickleString('cpu'), int(t.numel)]);
    const common = [
      Buffer.concat([pid, Buffer.from([0x51])]), // BINPERSID
      int(t.offset),
      tuple(t.size.map(int)),
      tuple(t.stride.map(int)),
    ];
    // v2 adds requires_grad and backward_hooks; PyTorch < 0.4's _rebuild_tensor has only these four
    const args = tuple(rebuild === '_rebuild_tensor' ? common : [...common, Buffer.from([0x89]), Buffer.concat([global('collections', 'OrderedDict'), Buffer.from([0x29, 0x52])])]);
    out.push(pickleString(t.name), global('torch._utils', rebuild), args, Buffer.from([0x52, 0x73])); // REDUCE SETITEM
  }
  if (extra) out.push(pickleString(extra.name), Buffer.from(extra.bytes), Buffer.from([0x73]));
  out.push(Buffer.from([0x2e])); // STOP
  return new Uint8Array(Buffer.concat(out));
}

/** Row-major strides of a shape. */
export function contiguousStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** The tensors of a safetensors file: name, dtype, shape, bytes. */
export function readSafetensors(bytes: Uint8Array): { name: string; dtype: string; shape: number[]; data: Uint8Array }[] {
  const len = Number(Buffer.from(bytes.buffer, bytes.byteOffset, 8).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, len).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, data: bytes.subarray(8 + len + e.data_offsets[0], 8 + len + e.data_offsets[1]) }));
}
