/**
 * Helpers of the WASM tests: loading the WASM build directly (a missing build FAILS the test,
 * it is never skipped), safetensors read/write, and the fixture weight generator of
 * crates/densenet-cpu/tests/fixtures/README.md (`fnv1a64-splitmix64-v1`, reimplemented with
 * BigInt; bit-exact in float64).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NativeBinding, NativeModel } from '../../ts/native.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(root, 'crates/densenet-cpu/tests/fixtures');
export const WASM_ENTRY = join(root, 'npm/wasm32/index.cjs');

/** The WASM model: the native interface plus the byte-level methods. */
export interface WasmModel extends NativeModel {
  weightsBytes(metadataJson?: string | null): Uint8Array;
  loadWeightsBytes(bytes: Uint8Array, sourceName: string): void;
  checkpointBytes(extraJson: string): Uint8Array;
  loadCheckpointBytes(bytes: Uint8Array, sourceName: string): string;
}

/** The WASM binding's exports (the native interface plus test hooks). */
export interface WasmBinding extends NativeBinding {
  NativeModel: new (configJson: string, dtype: string, seed: number) => WasmModel;
  predictF64(configJson: string, weights: Uint8Array, input: Float64Array, shape: number[]): Float64Array;
  planSpecs(configJson: string): string;
  trainTraceF64(
    configJson: string,
    weights: Uint8Array,
    inputs: Float64Array,
    shape: number[],
    labels: Int32Array,
    steps: number,
    optimizerJson: string,
    memoryMode: 'efficient' | 'naive',
  ): Float64Array;
  currentNumThreads(): number;
  gemmSimd128(): boolean;
  backend: string;
}

/** Loads npm/wasm32 directly; throws (failing the test) when the build is missing. */
export function loadWasm(): WasmBinding {
  if (!existsSync(join(root, 'npm/wasm32/web/densenet_wasm_bg.wasm'))) {
    throw new Error('the WASM build is missing (npm/wasm32/web/densenet_wasm_bg.wasm); run `npm run build:wasm`');
  }
  return createRequire(import.meta.url)(WASM_ENTRY) as WasmBinding;
}

export interface Tensor {
  dtype: string;
  shape: number[];
  data: Float64Array;
}

export interface SafeTensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Parses safetensors bytes (F64, F32, I64 tensors as float64 values). */
export function readSafetensors(bytes: Uint8Array): SafeTensors {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const base = 8 + n;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [a, b] } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const raw = buf.subarray(base + a, base + b);
    const size = dtype === 'F32' ? 4 : 8;
    const data = new Float64Array(raw.length / size);
    for (let i = 0; i < data.length; i++) {
      data[i] = dtype === 'F64' ? raw.readDoubleLE(i * 8) : dtype === 'F32' ? raw.readFloatLE(i * 4) : dtype === 'I64' ? Number(raw.readBigInt64LE(i * 8)) : NaN;
    }
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata };
}

export function readSafetensorsFile(path: string): SafeTensors {
  return readSafetensors(readFileSync(path));
}

/** Writes float64 tensors as an F64 safetensors file (bytes). */
export function writeSafetensorsF64(tensors: Map<string, { shape: number[]; data: Float64Array }>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F64', shape: t.shape, data_offsets: [offset, offset + t.data.length * 8] };
    offset += t.data.length * 8;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hlen = Buffer.byteLength(json);
  const out = Buffer.alloc(8 + hlen + offset);
  out.writeBigUInt64LE(BigInt(hlen), 0);
  out.write(json, 8, 'utf8');
  let at = 8 + hlen;
  for (const t of tensors.values()) {
    for (let i = 0; i < t.data.length; i++, at += 8) out.writeDoubleLE(t.data[i]!, at);
  }
  return out;
}

const M64 = (1n << 64n) - 1n;

export function fnv1a64(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & M64;
  }
  return h;
}

export function splitmix64(z0: bigint): bigint {
  let z = (z0 + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/** uniform(name, seed, n) of the fixture generator: values in [0, 1). */
export function uniform(name: string, seed: bigint, n: number): Float64Array {
  const base = fnv1a64(name) ^ seed;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(splitmix64((base + BigInt(i)) & M64) >> 11n) * 2 ** -53;
  return out;
}

/**
 * The fixture weights of every tensor a model of this config holds (names and shapes taken from
 * the model's own safetensors), as F64 safetensors bytes that both builds load.
 */
export function fixtureWeights(model: WasmModel, seed: number): Uint8Array {
  const { tensors } = readSafetensors(model.weightsBytes());
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [name, t] of tensors) {
    const n = t.data.length;
    const u = uniform(name, BigInt(seed), n);
    const parts = name.split('.');
    const leaf = parts[parts.length - 1]!;
    const module = parts[parts.length - 2]!;
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = u[i]!;
      if (name === 'classifier.weight') v[i] = (2.0 * x - 1.0) / Math.sqrt(t.shape[1]!);
      else if (name === 'classifier.bias') v[i] = 0.1 * (2.0 * x - 1.0);
      else if (module.startsWith('conv')) v[i] = (2.0 * x - 1.0) * Math.sqrt(3.0) * Math.sqrt(2.0 / (t.shape[0]! * t.shape[2]! * t.shape[3]!));
      else if (module.startsWith('norm') && (leaf === 'weight' || leaf === 'running_var')) v[i] = 0.5 + x;
      else if (module.startsWith('norm') && (leaf === 'bias' || leaf === 'running_mean')) v[i] = 0.2 * (2.0 * x - 1.0);
      else throw new Error(`fixture generator: unknown tensor ${name}`);
    }
    out.set(name, { shape: t.shape, data: v });
  }
  return writeSafetensorsF64(out, {});
}

/** max|a − r| / max|r| (the fixtures README's measure for logits). */
export function relMax(a: ArrayLike<number>, r: ArrayLike<number>): number {
  if (a.length !== r.length) throw new Error(`length ${a.length} != ${r.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < r.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - r[i]!));
    den = Math.max(den, Math.abs(r[i]!));
  }
  return num / Math.max(den, 1e-300);
}

/** ‖a − r‖₂ / ‖r‖₂ (the Rust parity tests' measure). */
export function relL2(a: ArrayLike<number>, r: ArrayLike<number>): number {
  if (a.length !== r.length) throw new Error(`length ${a.length} != ${r.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < r.length; i++) {
    num += (a[i]! - r[i]!) ** 2;
    den += r[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}
