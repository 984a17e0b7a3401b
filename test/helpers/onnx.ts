/** Helpers of the ONNX export tests (not a test file): onnxruntime, a protobuf reader, weights with random BN statistics. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';

import type { DenseNet } from '../../ts/index.js';
import { randn } from './util.js';

/** Runs an ONNX file in onnxruntime-node (CPU) on one NCHW batch; returns the `logits` output. */
export async function runOnnx(path: string, input: Float32Array, shape: readonly number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 2 });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', input, [...shape]) });
    return out['logits']!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |b|: the difference relative to the reference's largest logit. */
export function relativeMaxDiff(a: ArrayLike<number>, reference: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - reference[i]!));
    scale = Math.max(scale, Math.abs(reference[i]!));
  }
  return diff / scale;
}

/** A field of a protobuf message: its number and either a varint or the bytes of a length-delimited value. */
interface Field {
  readonly field: number;
  readonly varint?: number;
  readonly bytes?: Uint8Array;
}

/** Splits one protobuf message into its fields (varint, fixed32, fixed64, length-delimited). Written from the spec, independently of ts/onnx/proto.ts. */
export function protoFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const byte = buf[pos++]!;
      result += (byte & 0x7f) * mul;
      mul *= 128;
      if (byte < 0x80) return result;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) fields.push({ field, varint: varint() });
    else if (wire === 2) {
      const len = varint();
      fields.push({ field, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new Error(`unsupported wire type ${wire} at byte ${pos}`);
  }
  return fields;
}

const utf8 = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

/** What the tests read back from an ONNX file's `ModelProto` (field numbers of onnx.proto). */
export interface OnnxFileFacts {
  irVersion: number;
  opset: number;
  metadata: Record<string, string>;
  opTypes: string[];
}

/** Reads ir_version (1), opset_import (8) of the default domain, metadata_props (14) and the graph's (7) node op types (1 → 4). */
export function readOnnxFacts(path: string): OnnxFileFacts {
  const model = protoFields(readFileSync(path));
  const metadata: Record<string, string> = {};
  for (const f of model.filter((x) => x.field === 14)) {
    const entry = protoFields(f.bytes!);
    metadata[utf8(entry.find((x) => x.field === 1)?.bytes)] = utf8(entry.find((x) => x.field === 2)?.bytes);
  }
  const opsetEntry = protoFields(model.find((x) => x.field === 8)!.bytes!);
  const graph = protoFields(model.find((x) => x.field === 7)!.bytes!);
  const opTypes = graph.filter((x) => x.field === 1).map((n) => utf8(protoFields(n.bytes!).find((x) => x.field === 4)?.bytes));
  return { irVersion: model.find((x) => x.field === 1)!.varint!, opset: opsetEntry.find((x) => x.field === 2)!.varint!, metadata, opTypes };
}

/**
 * Gives every BatchNorm of `model` random affine parameters and running statistics (a fresh
 * model's are γ=1, β=0, μ=0, σ²=1, which would make folding trivially exact), by rewriting its
 * saved safetensors file and loading it back.
 */
export async function randomizeBatchNorms(model: DenseNet, dir: string, seed: number): Promise<void> {
  const file = join(dir, `bn-${seed}.safetensors`);
  await model.save(file, { preprocessing: null });
  const buf = readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + headerLength);
  let s = seed;
  for (const [name, entry] of Object.entries(header)) {
    const m = /\.(weight|bias|running_mean|running_var)$/.exec(name);
    if (!m || entry.dtype !== 'F32' || entry.shape.length !== 1 || name.startsWith('classifier.')) continue;
    const noise = randn(entry.shape[0]!, ++s);
    const values = noise.map((z) => {
      const u = Math.tanh(z); // in (-1, 1)
      return m[1] === 'weight' ? 1 + 0.4 * u : m[1] === 'running_var' ? 1 + 0.6 * u : 0.2 * u;
    });
    Buffer.from(values.buffer).copy(data, entry.data_offsets[0]);
  }
  writeFileSync(file, buf);
  await model.load(file);
}
