/**
 * The values of the unpickler: what a pickle decodes to ({@link PyValue}, {@link NdArray}), the
 * unpickler's own intermediate objects, and the small conversions between them.
 *
 * @module
 */

/** A numpy array decoded from a pickle. The raw bytes are not converted: read them per {@link NdArray.dtype}. */
export interface NdArray {
  /** Discriminator. */
  kind: 'ndarray';
  /** numpy type string with byte order, e.g. `"|u1"`, `"<i8"`, `"<f4"`. */
  dtype: string;
  /** Dimensions, outermost first. */
  shape: number[];
  /** `true` when `data` is in column-major (Fortran) order. */
  fortranOrder: boolean;
  /** The array's raw bytes (a view into the pickle buffer when possible). */
  data: Uint8Array;
}

/** A dict key. Python `bytes` keys are turned into latin-1 strings, so `b'data'` and `'data'` are both `"data"`. */
export type PyKey = string | number | bigint | boolean | null;

/**
 * A value decoded from a pickle: `None` → `null`, `int` → `number` (`bigint` past 2^53), `float` → `number`,
 * `str` → `string`, `bytes`/`bytearray` → `Uint8Array`, `list`/`tuple`/`set` → array, `dict` → `Map`,
 * numpy arrays → {@link NdArray}.
 */
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | Map<PyKey, PyValue> | NdArray;

/** @internal */
export interface PyGlobal {
  kind: 'global';
  module: string;
  name: string;
}
/** @internal */
export interface DType {
  kind: 'dtype';
  descr: string;
  byteorder: string;
}
/** @internal */
export interface PendingArray {
  kind: 'pending-ndarray';
  result?: NdArray;
}
/** @internal */
export type Item = PyValue | PyGlobal | DType | PendingArray;

/** The MARK on the unpickler's stack. @internal */
export const MARK = Symbol('mark');
/** Decoders of pickle strings. @internal */
export const utf8 = new TextDecoder('utf-8');
export const latin1 = new TextDecoder('latin1');

/** Whether `x` is one of the unpickler's own objects of `kind`. @internal */
export function isObj(x: unknown, kind: string): boolean {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && !Array.isArray(x) && !(x instanceof Map) && (x as { kind?: string }).kind === kind;
}

/** A dict key from a pickled value (bytes as latin-1, tuples as JSON). @internal */
export function toKey(k: Item): PyKey {
  if (k instanceof Uint8Array) return latin1.decode(k);
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  if (Array.isArray(k)) return JSON.stringify(k.map((v) => (v instanceof Uint8Array ? latin1.decode(v) : typeof v === 'bigint' ? String(v) : v)));
  throw new Error('unhashable dict key');
}

/** A pickled str or bytes as a string. @internal */
export function asString(x: Item): string {
  if (typeof x === 'string') return x;
  if (x instanceof Uint8Array) return latin1.decode(x);
  throw new Error(`expected a string, got ${describe(x)}`);
}

/** What a pickled value is, for error messages. @internal */
export function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x instanceof Uint8Array) return `bytes(${x.length})`;
  if (Array.isArray(x)) return `tuple/list(${x.length})`;
  if (x instanceof Map) return 'dict';
  if (typeof x === 'object') return String((x as { kind?: string }).kind);
  return typeof x;
}

/** The numpy type string of a dtype, with its byte order. @internal */
export function dtypeString(d: DType): string {
  if (/^[<>|=]/.test(d.descr)) return d.descr.replace(/^=/, '<');
  return (d.byteorder === '=' ? '<' : d.byteorder) + d.descr;
}

/** A little-endian two's-complement integer (LONG1/LONG4): a number when safe, else a bigint. @internal */
export function longLE(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Hooks for pickles that are not data files (PyTorch's state dicts; see ts/weights/pth.ts). Without
 * them the unpickler behaves exactly as for the CIFAR batches.
 * @internal
 */
export interface UnpickleOptions {
  /** Byte offset where the pickle starts (default 0); `unpickleAt` returns where it ends. */
  start?: number;
  /**
   * Replaces the default allow-list: every GLOBAL / STACK_GLOBAL is checked when it is read, and a
   * `false` refuses it (an error naming `module.name`) before anything uses it.
   */
  allowGlobal?: (module: string, name: string) => boolean;
  /**
   * Replaces the default REDUCE handling for allowed globals: returns the value of
   * `module.name(*args)`. It must not run code; it builds plain values.
   */
  reduce?: (module: string, name: string, args: unknown[]) => unknown;
  /** BINPERSID / PERSID: maps a persistent id to its object. Without it, a persistent id is refused. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** A global a pickle referred to (`module.name`), as handed to {@link UnpickleOptions} hooks. @internal */
export function asPyGlobal(x: unknown): { module: string; name: string } | undefined {
  return isObj(x, 'global') ? { module: (x as PyGlobal).module, name: (x as PyGlobal).name } : undefined;
}

/** A plain `Uint8Array` view of the same bytes (so views taken from a Node `Buffer` are not Buffers). @internal */
export function plain(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Looks up `key` in an unpickled dict (bytes and str keys are equivalent).
 * @returns the value, or `undefined` when `d` is not a dict or lacks the key
 */
export function pyGet(d: PyValue, key: string): PyValue | undefined {
  return d instanceof Map ? d.get(key) : undefined;
}
