/**
 * Reading PyTorch's `torch.save` files (`.pth`, `.pt`, `.bin`) without Python: the zip format
 * (PyTorch ≥ 1.6: `<folder>/data.pkl` plus one record per storage, `<folder>/data/<key>`) and the
 * legacy format (five pickles back to back, then the storages' raw bytes).
 *
 * The pickle goes through the project's safe unpickler with an allow-list: `collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2` (and PyTorch < 0.4's `_rebuild_tensor`) / `_rebuild_parameter`, `torch.Size` and the storage types of
 * float32, float64, float16, bfloat16 and int64. Nothing is imported or called; any other global is
 * refused (`ERR_WEIGHTS`, naming it) as soon as the pickle mentions it.
 *
 * @module
 * @internal
 */
import { DataError } from '../data/errors.js';
import { asPyGlobal, unpickleAt, type PyValue, type UnpickleOptions } from '../data/pickle.js';
import { DenseNetError, WeightsError } from '../errors.js';
import { looksLikeZip, ZipArchive } from './zip.js';

/** Element types of the storages understood (safetensors names). */
export type TensorDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64';

/** A tensor read from a file: contiguous little-endian bytes, row-major. */
export interface RawTensor {
  name: string;
  dtype: TensorDType;
  shape: number[];
  data: Uint8Array;
}

/** Bytes per element. */
export const ELEMENT_SIZE: Readonly<Record<TensorDType, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8 };

const STORAGE_TYPES: Readonly<Record<string, TensorDType>> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
};

const ALLOWED = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter', 'torch.Size', ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`)]);

/** The globals a PyTorch weights pickle may name (everything else is refused). */
export const ALLOWED_GLOBALS: readonly string[] = [...ALLOWED];

interface Storage {
  kind: 'torch-storage';
  key: string;
  dtype: TensorDType;
  numel: number;
  /** Filled when the storage's bytes are found (at once in a zip, after the pickles in the legacy format). */
  bytes?: Uint8Array;
}

interface TensorRef {
  kind: 'torch-tensor';
  storage: Storage;
  offset: number;
  size: number[];
  stride: number[];
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** Which weights format the first bytes of a file say it is. */
export type WeightsFormat = 'safetensors' | 'pytorch-zip' | 'pytorch-legacy' | 'unknown';

/**
 * Detects a weights file's format by its magic bytes: zip (`PK\x03\x04`), a pickle (`\x80\x02`,
 * PyTorch's legacy format), or a safetensors header (a little-endian u64 length, then `{`).
 *
 * @param head - the file's first bytes (at least 9 for safetensors)
 */
export function detectWeightsFormat(head: Uint8Array): WeightsFormat {
  if (looksLikeZip(head)) return 'pytorch-zip';
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pytorch-legacy';
  if (head.length >= 9 && head[8] === 0x7b) {
    const len = new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true);
    if (len >= 2n && len < 100_000_000n) return 'safetensors';
  }
  return 'unknown';
}

function isTensor(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'torch-tensor';
}

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new Error(`${what} must be a tuple of non-negative integers, got ${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x))}`);
  }
  return v as number[];
}

/** The unpickler hooks: the allow-list, tensor and storage reconstruction; `storage(key, dtype, numel)` finds the bytes. */
function torchOptions(storage: (key: string, dtype: TensorDType, numel: number) => Storage): UnpickleOptions {
  return {
    allowGlobal: (module, name) => ALLOWED.has(`${module}.${name}`),
    reduce: (module, name, args) => {
      switch (`${module}.${name}`) {
        case 'collections.OrderedDict':
          return new Map();
        case 'torch.Size':
          return intTuple(args[0] ?? [], 'torch.Size');
        case 'torch._utils._rebuild_parameter':
          if (!isTensor(args[0])) throw new Error('_rebuild_parameter of something that is not a tensor');
          return args[0];
        case 'torch._utils._rebuild_tensor': // PyTorch < 0.4: (storage, offset, size, stride)
        case 'torch._utils._rebuild_tensor_v2': {
          const [s, offset, size, stride] = args;
          if (typeof s !== 'object' || s === null || (s as { kind?: unknown }).kind !== 'torch-storage') throw new Error('_rebuild_tensor_v2 without a storage');
          if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error(`bad storage offset ${String(offset)}`);
          const sz = intTuple(size, 'size');
          const st = intTuple(stride, 'stride');
          if (sz.length !== st.length) throw new Error(`size ${JSON.stringify(sz)} and stride ${JSON.stringify(st)} differ in length`);
          return { kind: 'torch-tensor', storage: s as Storage, offset, size: sz, stride: st } satisfies TensorRef;
        }
        default:
          // A storage type called as a function (never in torch.save output).
          throw new Error(`refusing to call ${module}.${name}`);
      }
    },
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') throw new Error(`unsupported persistent id (expected ('storage', type, key, location, numel))`);
      const g = asPyGlobal(pid[1]);
      const dtype = g && g.module === 'torch' ? STORAGE_TYPES[g.name] : undefined;
      if (!dtype) throw new Error(`unsupported storage type ${g ? `${g.module}.${g.name}` : String(pid[1])}`);
      const key = pid[2];
      const numel = pid[4];
      if (typeof key !== 'string') throw new Error('storage key must be a string');
      if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error(`storage ${key}: bad element count ${String(numel)}`);
      if (pid.length > 5 && pid[5] !== null) throw new Error(`storage ${key}: storage views (old PyTorch < 0.4 files) are not supported`);
      return storage(key, dtype, numel);
    },
  };
}

/** Runs the unpickler, turning its DataError into a WeightsError with the same message. */
function unpickleTorch(bytes: Uint8Array, where: string, options: UnpickleOptions): { value: PyValue; end: number } {
  try {
    return unpickleAt(bytes, where, options);
  } catch (e) {
    if (e instanceof DataError) throw new WeightsError(e.message, { cause: e });
    if (e instanceof DenseNetError) throw e;
    throw new WeightsError(`${where}: ${(e as Error).message}`, { cause: e });
  }
}

/** The state dict of what `torch.save` stored: the dict itself, or the dict under a checkpoint's `state_dict` / `model` key. */
function stateDictOf(value: PyValue, file: string): Map<string, TensorRef> {
  if (!(value instanceof Map)) throw new WeightsError(`${file}: the pickle holds ${Array.isArray(value) ? 'a list' : typeof value}, not a state dict (a dict of tensors)`);
  let d = value;
  const hasTensor = [...d.values()].some(isTensor);
  if (!hasTensor) {
    for (const k of ['state_dict', 'model_state_dict', 'model', 'module', 'net']) {
      const inner = d.get(k);
      if (inner instanceof Map && [...inner.values()].some(isTensor)) {
        d = inner;
        break;
      }
    }
  }
  const out = new Map<string, TensorRef>();
  for (const [k, v] of d) {
    if (typeof k !== 'string') throw new WeightsError(`${file}: the state dict has a key that is not a string (${String(k)})`);
    if (k === '_metadata' && v instanceof Map) continue; // nn.Module's version info, set by BUILD on the OrderedDict
    if (!isTensor(v)) {
      if (d === value) throw new WeightsError(`${file}: entry '${k}' of the state dict is not a tensor`);
      continue;
    }
    out.set(k, v);
  }
  if (out.size === 0) throw new WeightsError(`${file}: no tensors found (expected a state dict, or a checkpoint with one under 'state_dict' or 'model')`);
  return out;
}

/** Copies a (possibly strided) tensor out of its storage into contiguous row-major bytes. */
function gather(name: string, t: TensorRef, file: string): RawTensor {
  const s = t.storage;
  const es = ELEMENT_SIZE[s.dtype];
  const where = `${file}: tensor '${name}'`;
  if (!s.bytes) throw new WeightsError(`${where}: the bytes of its storage '${s.key}' are missing`);
  const have = Math.floor(s.bytes.length / es);
  const n = t.size.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n * es);
  if (n === 0) return { name, dtype: s.dtype, shape: t.size, data: out };
  const last = t.offset + t.size.reduce((acc, d, i) => acc + (d - 1) * t.stride[i]!, 0);
  if (last >= have || last >= s.numel) {
    throw new WeightsError(
      `${where}: shape ${JSON.stringify(t.size)}, stride ${JSON.stringify(t.stride)} at storage offset ${t.offset} reaches element ${last}, ` +
        `past the end of its storage '${s.key}' (${Math.min(have, s.numel)} ${s.dtype} elements)`,
    );
  }
  let contiguous = true;
  for (let i = t.size.length - 1, want = 1; i >= 0; i--) {
    if (t.size[i]! !== 1 && t.stride[i]! !== want) contiguous = false;
    want *= t.size[i]!;
  }
  if (contiguous) {
    out.set(s.bytes.subarray(t.offset * es, (t.offset + n) * es));
  } else {
    const rank = t.size.length;
    const idx = new Array<number>(rank).fill(0);
    let src = t.offset;
    for (let o = 0; o < n; o++) {
      out.set(s.bytes.subarray(src * es, src * es + es), o * es);
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]!++;
        src += t.stride[d]!;
        if (idx[d]! < t.size[d]!) break;
        src -= idx[d]! * t.stride[d]!;
        idx[d] = 0;
      }
    }
  }
  return { name, dtype: s.dtype, shape: [...t.size], data: out };
}

function readZip(bytes: Uint8Array, file: string): RawTensor[] {
  const zip = new ZipArchive(bytes, file);
  const pkl = [...zip.entries.keys()].find((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  if (!pkl) throw new WeightsError(`${file}: a zip archive without data.pkl: not a torch.save file (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')}${zip.entries.size > 5 ? ', ...' : ''})`);
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const order = zip.entries.get(`${prefix}byteorder`);
  if (order) {
    const o = new TextDecoder().decode(zip.read(order)).trim();
    if (o !== 'little') throw new WeightsError(`${file}: byteorder '${o}': only little-endian files are supported`);
  }
  const storages = new Map<string, Storage>();
  const storage = (key: string, dtype: TensorDType, numel: number): Storage => {
    const seen = storages.get(key);
    if (seen) return seen;
    const entry = zip.entries.get(`${prefix}data/${key}`);
    if (!entry) throw new WeightsError(`${file}: storage '${key}' (${prefix}data/${key}) is missing from the archive`);
    const data = zip.read(entry);
    if (data.length < numel * ELEMENT_SIZE[dtype]) {
      throw new WeightsError(`${file}: storage '${key}' declares ${numel} ${dtype} elements (${numel * ELEMENT_SIZE[dtype]} bytes) but ${entry.name} holds ${data.length} bytes`);
    }
    const s: Storage = { kind: 'torch-storage', key, dtype, numel, bytes: data };
    storages.set(key, s);
    return s;
  };
  const { value } = unpickleTorch(zip.read(zip.entries.get(pkl)!), `${file} (${pkl})`, torchOptions(storage));
  return [...stateDictOf(value, file)].map(([name, t]) => gather(name, t, file));
}

function readLegacy(bytes: Uint8Array, file: string): RawTensor[] {
  const storages = new Map<string, Storage>();
  const options = torchOptions((key, dtype, numel) => {
    const seen = storages.get(key);
    if (seen) return seen;
    const s: Storage = { kind: 'torch-storage', key, dtype, numel };
    storages.set(key, s);
    return s;
  });
  const magic = unpickleTorch(bytes, file, options);
  if (magic.value !== LEGACY_MAGIC) throw new WeightsError(`${file}: a pickle, but not a torch.save file (no PyTorch magic number); only state dicts saved by torch.save are read`);
  const proto = unpickleTorch(bytes, file, { ...options, start: magic.end });
  if (proto.value !== LEGACY_PROTOCOL) throw new WeightsError(`${file}: legacy torch.save protocol ${String(proto.value)} (only ${LEGACY_PROTOCOL} is supported)`);
  const sys = unpickleTorch(bytes, file, { ...options, start: proto.end });
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) throw new WeightsError(`${file}: saved on a big-endian machine; only little-endian files are supported`);
  const main = unpickleTorch(bytes, file, { ...options, start: sys.end });
  const keys = unpickleTorch(bytes, file, { ...options, start: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new WeightsError(`${file}: the storage key list is not a list of strings`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new WeightsError(`${file}: storage '${key}' is listed but no tensor uses it`);
    if (pos + 8 > bytes.length) throw new WeightsError(`${file}: truncated: storage '${key}' starts at offset ${pos}, past the end (${bytes.length} bytes)`);
    const numel = dv.getBigInt64(pos, true);
    if (numel !== BigInt(s.numel)) throw new WeightsError(`${file}: storage '${key}' holds ${numel} elements, its tensor declared ${s.numel}`);
    const len = s.numel * ELEMENT_SIZE[s.dtype];
    if (pos + 8 + len > bytes.length) throw new WeightsError(`${file}: truncated: storage '${key}' (${len} bytes at offset ${pos + 8}) runs past the end of the file (${bytes.length} bytes)`);
    s.bytes = bytes.subarray(pos + 8, pos + 8 + len);
    pos += 8 + len;
  }
  return [...stateDictOf(main.value, file)].map(([name, t]) => gather(name, t, file));
}

/**
 * The tensors of a `torch.save` file (zip or legacy format), in the state dict's order, each
 * copied to contiguous bytes in its storage's dtype.
 *
 * @param bytes - the whole file
 * @param file - the file, for errors
 * @throws {@link WeightsError} naming the file (and the tensor, storage, entry or global) for
 *   anything it cannot read or refuses
 */
export function readTorchFile(bytes: Uint8Array, file: string): RawTensor[] {
  const format = detectWeightsFormat(bytes);
  if (format === 'pytorch-zip') return readZip(bytes, file);
  if (format === 'pytorch-legacy') return readLegacy(bytes, file);
  if (bytes.length >= 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new WeightsError(`${file}: a tar archive (the torch.save format of PyTorch < 0.1.10) is not supported; re-save it with a current PyTorch`);
  }
  throw new WeightsError(`${file}: not a PyTorch file (neither a zip archive nor a pickle)`);
}
