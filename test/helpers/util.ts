/** Shared helpers of the SDK tests (not a test file: ava only runs test/**\/*.test.ts). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import type { ModelConfig } from '../../ts/index.js';

/** A tiny DenseNet-BC (k=4, 2 layers per block) that runs in milliseconds (shared with scripts/install-test.mjs). */
export const TINY: ModelConfig = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../fixtures/tiny-config.json'), 'utf8')) as ModelConfig;

/** Deterministic pseudo-random floats with mean 0 and std about 1 (sum of uniforms). */
export function randn(n: number, seed = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() + next() + next() - 1.5) * 2;
  return out;
}

/** Deterministic labels in [0, classes). */
export function labelsFor(n: number, classes: number, seed = 7): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed) % classes;
  return out;
}

/** A fresh temporary directory; call the returned cleanup when done. */
export function tempDir(prefix = 'densenet-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether every value is finite. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/** Largest absolute difference of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Whether two safetensors files hold the same tensors, bit for bit, and the same header (compared
 * as JSON: the native core writes the `__metadata__` pairs in no fixed order, so the header bytes
 * of two identical models may differ).
 */
export function sameSafetensors(a: Buffer, b: Buffer): boolean {
  const split = (buf: Buffer): [unknown, Buffer] => {
    const n = Number(buf.readBigUInt64LE(0));
    return [JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), buf.subarray(8 + n)];
  };
  const [ha, da] = split(a);
  const [hb, db] = split(b);
  return isDeepStrictEqual(ha, hb) && da.equals(db);
}
