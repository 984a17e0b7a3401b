/**
 * Turning the tensors of other DenseNet weight files into the safetensors bytes the core loads:
 * the names of old torchvision checkpoints and of `nn.DataParallel` mapped to torchvision's
 * current ones, `num_batches_tracked` dropped, dtypes kept (the core converts f16 / bf16 / f32 /
 * f64 to the model's dtype).
 *
 * timm's DenseNets (`timm/densenet121.tv_in1k`, `.ra_in1k` on the Hugging Face hub) use
 * torchvision's names (`features.conv0`, `features.norm0`, `features.denseblockN.denselayerM.norm1`,
 * `features.transitionN.{norm,conv}`, `features.norm5`, `classifier`; the pooling has no weights),
 * so they need no mapping; timm's deep-stem variants (`densenetblur121d`, `densenet264d`:
 * `features.conv1`, `features.norm2`, ...) are another architecture and fail as unexpected tensors.
 *
 * @module
 * @internal
 */
import { WeightsError } from '../errors.js';
import { ELEMENT_SIZE, type RawTensor, type TensorDType } from './pth.js';

/** torchvision's `_load_state_dict` pattern: `denselayerN.norm.1.weight` → `denselayerN.norm1.weight`. */
const LEGACY_LAYER = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$/;

/**
 * The torchvision name of a tensor: without `nn.DataParallel`'s `module.` prefix, with the old
 * `norm.1` / `conv.2` layer names rewritten as torchvision's `_load_state_dict` does.
 *
 * @param name - a state-dict key
 */
export function canonicalTensorName(name: string): string {
  let n = name.startsWith('module.') ? name.slice('module.'.length) : name;
  const m = LEGACY_LAYER.exec(n);
  if (m) n = m[1]! + m[2]!;
  return n;
}

/** Whether the core ignores this tensor (BN's step counter). */
export function isIgnoredTensor(name: string): boolean {
  return name.endsWith('.num_batches_tracked');
}

/**
 * The tensors to hand to the core, renamed: ignored ones dropped, non-float ones refused, two
 * names that map to one refused.
 *
 * @param tensors - as read
 * @param file - the file, for errors
 */
export function canonicalTensors(tensors: readonly RawTensor[], file: string): RawTensor[] {
  const out: RawTensor[] = [];
  const from = new Map<string, string>();
  for (const t of tensors) {
    const name = canonicalTensorName(t.name);
    if (isIgnoredTensor(name)) continue;
    if (t.dtype === 'I64') throw new WeightsError(`${file}: tensor '${t.name}' has dtype int64; expected a float type (float16, bfloat16, float32, float64)`);
    const twin = from.get(name);
    if (twin !== undefined) throw new WeightsError(`${file}: tensors '${twin}' and '${t.name}' are both '${name}'`);
    from.set(name, t.name);
    out.push(name === t.name ? t : { ...t, name });
  }
  return out;
}

/**
 * safetensors bytes of the tensors (8-byte aligned header, tensors in the given order).
 *
 * @param tensors - contiguous little-endian data per tensor
 * @param metadata - optional `__metadata__` (string → string)
 */
export function encodeSafetensors(tensors: readonly RawTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors) {
    out.set(t.data, p);
    p += t.data.length;
  }
  return out;
}

const SAFETENSORS_DTYPES = new Set<string>(['F32', 'F64', 'F16', 'BF16', 'I64']);

/**
 * The header of a safetensors file: tensor names with their entries, and the metadata.
 *
 * @param bytes - the whole file (or at least its header)
 * @param file - the file, for errors
 */
export function safetensorsHeader(bytes: Uint8Array, file: string): { names: string[]; header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) throw new WeightsError(`${file}: not a safetensors file (shorter than 8 bytes)`);
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  if (!(len > 1 && len < 100_000_000) || 8 + len > bytes.length) throw new WeightsError(`${file}: not a safetensors file (header length ${len})`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, len).toString('utf8'));
  } catch (err) {
    throw new WeightsError(`${file}: the safetensors header is not valid JSON`, { cause: err });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new WeightsError(`${file}: the safetensors header is not a JSON object`);
  const h = header as Record<string, unknown>;
  return { names: Object.keys(h).filter((k) => k !== '__metadata__'), header: h, dataStart: 8 + len };
}

/**
 * A safetensors file whose names need mapping (old torchvision names, a `module.` prefix),
 * re-encoded with torchvision's names; `null` when every name is already canonical (the file
 * then loads as it is).
 *
 * @param bytes - the whole file
 * @param file - the file, for errors
 */
export function remapSafetensors(bytes: Uint8Array, file: string): Uint8Array | null {
  const { names, header, dataStart } = safetensorsHeader(bytes, file);
  if (names.every((n) => canonicalTensorName(n) === n)) return null;
  const tensors: RawTensor[] = names.map((name) => {
    const e = header[name] as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const [s, t] = Array.isArray(e?.data_offsets) ? (e.data_offsets as unknown[]) : [];
    const dtype = e?.dtype;
    if (typeof dtype !== 'string' || !SAFETENSORS_DTYPES.has(dtype)) throw new WeightsError(`${file}: tensor '${name}' has dtype ${String(dtype)}; expected a float type (F16, BF16, F32, F64)`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new WeightsError(`${file}: tensor '${name}' has a bad shape`);
    const n = (shape as number[]).reduce((a, b) => a * b, 1) * ELEMENT_SIZE[dtype as TensorDType];
    if (typeof s !== 'number' || typeof t !== 'number' || t - s !== n || s < 0 || dataStart + t > bytes.length) {
      throw new WeightsError(`${file}: tensor '${name}': data_offsets ${JSON.stringify(e.data_offsets)} do not fit its shape ${JSON.stringify(shape)} and the file (${bytes.length - dataStart} data bytes)`);
    }
    return { name, dtype: dtype as TensorDType, shape: shape as number[], data: bytes.subarray(dataStart + s, dataStart + t) };
  });
  const meta = header['__metadata__'];
  return encodeSafetensors(canonicalTensors(tensors, file), meta && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, string>) : undefined);
}
