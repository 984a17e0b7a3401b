/**
 * A small, fast, seedable PRNG (xoshiro128**, seeded through splitmix32) whose state is four
 * uint32 words that serialize to JSON, so a training run can checkpoint and resume the exact data order.
 *
 * @module
 */
import { DataError } from './errors.js';

/** The complete state of an {@link Rng}: four uint32 words (not all zero). JSON-serializable. */
export type RngState = [number, number, number, number];

/** One splitmix32 step: returns the next output for the 32-bit counter `x`. @internal */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** Folds a seed (number, possibly > 2^32, or string) into 32-bit words. @internal */
function seedWords(seed: number | string): number[] {
  if (typeof seed === 'string') {
    // FNV-1a over UTF-16 code units, then spread with splitmix32.
    let h = 0x811c9dc5;
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
    return [h >>> 0, seed.length];
  }
  if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
    throw new DataError('ERR_DATA_INVALID_ARG', `seed must be an integer or a string, got ${seed}`);
  }
  const neg = seed < 0 ? 1 : 0;
  const a = Math.abs(seed);
  return [a >>> 0, Math.floor(a / 0x100000000) >>> 0, neg];
}

/**
 * xoshiro128** pseudo-random generator (Blackman & Vigna), 2^128 - 1 period, 32-bit outputs.
 * Not cryptographic. Deterministic across platforms: only 32-bit integer arithmetic is used.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * const order = rng.permutation(10);
 * const saved = rng.state();           // JSON-able
 * const again = Rng.fromState(saved);  // continues identically
 * ```
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /**
   * Seeds the generator. Equal seeds give equal streams; `keys` derive independent streams
   * from one seed (e.g. `new Rng(seed, epoch, batch)`), which is how the loader makes every batch's
   * randomness a pure function of (seed, epoch, batch index).
   * @param seed - integer (any safe integer) or string
   * @param keys - further integers mixed into the seed
   */
  constructor(seed: number | string = 0, ...keys: number[]) {
    let h = 0x6a09e667;
    const words = seedWords(seed);
    for (const k of keys) {
      if (!Number.isInteger(k)) throw new DataError('ERR_DATA_INVALID_ARG', `Rng key must be an integer, got ${k}`);
      words.push(k >>> 0, Math.floor(k / 0x100000000) >>> 0);
    }
    for (const w of words) h = mix32(h ^ mix32(w + 0x632be5ab));
    this.s0 = mix32(h);
    this.s1 = mix32(this.s0 ^ 0x1b873593);
    this.s2 = mix32(this.s1 ^ 0xcc9e2d51);
    this.s3 = mix32(this.s2 ^ 0x85ebca6b);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Restores a generator from {@link Rng.state}. @throws DataError `ERR_DATA_INVALID_ARG` for a malformed state. */
  static fromState(state: RngState): Rng {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) ||
      state.every((w) => w === 0)
    ) {
      throw new DataError('ERR_DATA_INVALID_ARG', `invalid Rng state ${JSON.stringify(state)}: expected 4 uint32 words, not all 0`);
    }
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state;
    return r;
  }

  /** The current state (a copy). `Rng.fromState(rng.state())` continues the same stream. */
  state(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** An independent copy with the same state. */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Next uniform uint32 in `[0, 2^32)`. */
  nextUint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform float in `[0, 1)` with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform float in `[lo, hi)`. */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in `[0, n)`, unbiased (rejection sampling); `n` in `[1, 2^32]`. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new DataError('ERR_DATA_INVALID_ARG', `Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** `true` with probability `p`. */
  bernoulli(p = 0.5): boolean {
    return this.next() < p;
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T extends unknown[] | Int32Array | Uint32Array | Uint8Array | Float32Array | Float64Array>(a: T): T {
    const x = a as unknown as { [i: number]: unknown; length: number };
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return a;
  }

  /** A uniformly random permutation of `0..n-1`. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
