/**
 * A minimal, safe unpickler: enough of Python's pickle protocols 0–5 (binary opcodes) to read
 * dicts, lists, tuples, numbers, strings, bytes and numpy arrays, as in the CIFAR python batches.
 * It never executes code: only a short whitelist of globals (`numpy` array reconstruction,
 * `numpy.dtype`, `_codecs.encode`, `bytearray`, `set`, `OrderedDict`) is understood;
 * any other global is a `DataError('ERR_DATA_BAD_FORMAT')`.
 *
 * @module
 */
import { DenseNetError } from '../errors.js';
import { DataError } from './errors.js';

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

interface PyGlobal {
  kind: 'global';
  module: string;
  name: string;
}
interface DType {
  kind: 'dtype';
  descr: string;
  byteorder: string;
}
interface PendingArray {
  kind: 'pending-ndarray';
  result?: NdArray;
}
type Item = PyValue | PyGlobal | DType | PendingArray;

const MARK = Symbol('mark');
const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

function isObj(x: unknown, kind: string): boolean {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && !Array.isArray(x) && !(x instanceof Map) && (x as { kind?: string }).kind === kind;
}

function toKey(k: Item): PyKey {
  if (k instanceof Uint8Array) return latin1.decode(k);
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  if (Array.isArray(k)) return JSON.stringify(k.map((v) => (v instanceof Uint8Array ? latin1.decode(v) : typeof v === 'bigint' ? String(v) : v)));
  throw new Error('unhashable dict key');
}

function asString(x: Item): string {
  if (typeof x === 'string') return x;
  if (x instanceof Uint8Array) return latin1.decode(x);
  throw new Error(`expected a string, got ${describe(x)}`);
}

function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x instanceof Uint8Array) return `bytes(${x.length})`;
  if (Array.isArray(x)) return `tuple/list(${x.length})`;
  if (x instanceof Map) return 'dict';
  if (typeof x === 'object') return String((x as { kind?: string }).kind);
  return typeof x;
}

function dtypeString(d: DType): string {
  if (/^[<>|=]/.test(d.descr)) return d.descr.replace(/^=/, '<');
  return (d.byteorder === '=' ? '<' : d.byteorder) + d.descr;
}

/** Deepest container nesting a data pickle may have. */
const MAX_NESTING = 1000;

/**
 * Hooks for pickles that are not data files (PyTorch's state dicts; see ts/weights/pth.ts). Without
 * them the unpickler behaves exactly as for the CIFAR batches.
 * @internal
 */
export interface UnpickleOptions {
  /** Byte offset where the pickle starts (default 0); {@link unpickleAt} returns where it ends. */
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

/**
 * Decodes one pickle.
 * @param input - the pickle bytes
 * @param file - name used in error messages
 * @param options - hooks for non-data pickles (default: none, the data-file allow-list)
 * @returns the unpickled value (see {@link PyValue})
 * @throws DataError `ERR_DATA_TRUNCATED` when the bytes end inside an opcode, `ERR_DATA_BAD_FORMAT` for an unknown opcode,
 *   a non-whitelisted global, or an inconsistent structure (the message gives the byte offset).
 */
export function unpickle(input: Uint8Array, file = '<pickle>', options: UnpickleOptions = {}): PyValue {
  return unpickleAt(input, file, options).value;
}

/**
 * Decodes one pickle starting at `options.start` and says where it ends (files that hold several
 * pickles one after the other, like PyTorch's legacy format).
 * @internal
 */
export function unpickleAt(input: Uint8Array, file = '<pickle>', options: UnpickleOptions = {}): { value: PyValue; end: number } {
  const buf = plain(input);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = options.start ?? 0;
  if (!Number.isSafeInteger(pos) || pos < 0 || pos > buf.length) throw new DataError('ERR_DATA_BAD_FORMAT', `pickle start ${pos} outside the ${buf.length} bytes`, { file });
  let op = 0;
  let opPos = 0;
  const stack: (Item | typeof MARK)[] = [];
  const memo = new Map<number, Item>();

  const fail = (msg: string, code: 'ERR_DATA_BAD_FORMAT' | 'ERR_DATA_TRUNCATED' = 'ERR_DATA_BAD_FORMAT'): never => {
    throw new DataError(code, `pickle opcode 0x${op.toString(16)} at offset ${opPos}: ${msg}`, { file });
  };
  const need = (n: number) => {
    if (pos + n > buf.length) fail(`needs ${n} bytes, only ${buf.length - pos} left`, 'ERR_DATA_TRUNCATED');
  };
  const bytes = (n: number): Uint8Array => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`bad length ${n}`);
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = () => (need(1), buf[pos++]!);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    pos += 8;
    const v = dv.getBigUint64(pos - 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} too large`);
    return Number(v);
  };
  const line = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text argument', 'ERR_DATA_TRUNCATED');
    const s = latin1.decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): Item => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK');
    return v as Item;
  };
  const top = (): Item => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack[stack.length - 1] as Item;
  };
  const popMark = (): Item[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i) as Item[];
    items.shift();
    return items;
  };
  const longLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const memoGet = (i: number): Item => {
    if (!memo.has(i)) fail(`memo key ${i} not found`);
    return memo.get(i)!;
  };
  const asList = (x: Item): PyValue[] => {
    if (!Array.isArray(x)) fail(`expected a list, got ${describe(x)}`);
    return x as PyValue[];
  };
  const setItems = (d: Item, kv: Item[]) => {
    if (!(d instanceof Map)) fail(`SETITEM(S) on ${describe(d)}`);
    if (kv.length % 2 !== 0) fail('odd number of SETITEMS arguments');
    for (let i = 0; i < kv.length; i += 2) {
      let key: PyKey;
      try {
        key = toKey(kv[i]!);
      } catch (e) {
        return fail((e as Error).message);
      }
      (d as Map<PyKey, PyValue>).set(key, kv[i + 1] as PyValue);
    }
  };

  const pushGlobal = (module: string, name: string) => {
    if (options.allowGlobal && !options.allowGlobal(module, name)) fail(`refusing global ${module}.${name} (not on the allow-list)`);
    stack.push({ kind: 'global', module, name } satisfies PyGlobal);
  };
  const persistent = (pid: Item): Item => {
    if (!options.persistentLoad) return fail('persistent ids are not supported in data files');
    try {
      return options.persistentLoad(pid) as Item;
    } catch (e) {
      if (e instanceof DenseNetError) throw e; // a hook's own typed error (a WeightsError naming the storage)
      return fail((e as Error).message);
    }
  };

  const reduce = (fn: Item, args: Item): Item => {
    if (!isObj(fn, 'global')) fail(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args)) fail(`REDUCE arguments must be a tuple, got ${describe(args)}`);
    const g = fn as PyGlobal;
    const a = args as Item[];
    const full = `${g.module}.${g.name}`;
    try {
      if (options.reduce) {
        try {
          return options.reduce(g.module, g.name, a) as Item;
        } catch (e) {
          if (e instanceof DenseNetError) throw e;
          return fail((e as Error).message);
        }
      }
      switch (full) {
        case '_codecs.encode': {
          const s = asString(a[0] ?? null);
          const enc = String(a[1] ?? 'utf-8').toLowerCase().replace('_', '-');
          if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') return new Uint8Array(Buffer.from(s, 'latin1'));
          if (enc === 'utf-8' || enc === 'utf8') return new Uint8Array(Buffer.from(s, 'utf8'));
          return fail(`unsupported encoding ${enc}`);
        }
        case 'numpy.core.multiarray._reconstruct':
        case 'numpy._core.multiarray._reconstruct':
          return { kind: 'pending-ndarray' } satisfies PendingArray;
        case 'numpy.dtype':
          return { kind: 'dtype', descr: asString(a[0] ?? null), byteorder: '|' } satisfies DType;
        case 'numpy.core.numeric._frombuffer':
        case 'numpy._core.numeric._frombuffer': {
          const [data, dt, shape, order] = a;
          if (!(data instanceof Uint8Array) || !isObj(dt, 'dtype') || !Array.isArray(shape)) return fail('bad _frombuffer arguments');
          return {
            kind: 'ndarray',
            dtype: dtypeString(dt as DType),
            shape: (shape as Item[]).map(Number),
            fortranOrder: asString(order ?? 'C') === 'F',
            data,
          } satisfies NdArray;
        }
        case '__builtin__.bytearray':
        case 'builtins.bytearray': {
          if (a.length === 0) return new Uint8Array(0);
          if (a[0] instanceof Uint8Array) return a[0];
          return reduce({ kind: 'global', module: '_codecs', name: 'encode' }, [asString(a[0]!), (a[1] ?? 'latin1') as PyValue]);
        }
        case '__builtin__.set':
        case 'builtins.set':
        case '__builtin__.frozenset':
        case 'builtins.frozenset':
          return a.length ? [...asList(a[0]!)] : [];
        case 'collections.OrderedDict':
          return new Map<PyKey, PyValue>();
        default:
          return fail(`refusing global ${full} (only numpy arrays, dtype, bytes and containers are supported)`);
      }
    } catch (e) {
      if (e instanceof DenseNetError) throw e;
      return fail((e as Error).message);
    }
  };

  const build = (obj: Item, state: Item) => {
    if (isObj(obj, 'pending-ndarray')) {
      if (!Array.isArray(state)) fail('ndarray state must be a tuple');
      let s = state as Item[];
      if (s.length === 5) s = s.slice(1); // (version, shape, dtype, is_fortran, rawdata)
      const [shape, dt, fortran, raw] = s;
      if (!Array.isArray(shape) || !isObj(dt, 'dtype')) fail('bad ndarray state');
      let data: Uint8Array;
      if (raw instanceof Uint8Array) data = raw;
      else if (typeof raw === 'string') data = new Uint8Array(Buffer.from(raw, 'latin1'));
      else return fail(`ndarray data of type ${describe(raw)} (object arrays are not supported)`);
      (obj as PendingArray).result = {
        kind: 'ndarray',
        dtype: dtypeString(dt as DType),
        shape: (shape as Item[]).map(Number),
        fortranOrder: fortran === true || fortran === 1,
        data,
      };
      return;
    }
    if (isObj(obj, 'dtype')) {
      if (Array.isArray(state) && state.length >= 2) (obj as DType).byteorder = asString(state[1] ?? '|');
      return;
    }
    if (obj instanceof Map && state instanceof Map) {
      for (const [k, v] of state) obj.set(k, v);
      return;
    }
    fail(`BUILD on ${describe(obj)}`);
  };

  const resolve = (x: Item): PyValue => {
    if (isObj(x, 'pending-ndarray')) {
      const r = (x as PendingArray).result;
      if (!r) fail('ndarray without state');
      return r!;
    }
    if (isObj(x, 'global') || isObj(x, 'dtype')) return fail(`unexpected ${describe(x)} in the result`);
    return x as PyValue;
  };

  // Arrays reconstructed lazily are replaced in containers when the pickle is finished.
  // Data pickles (CIFAR batches) nest a few levels; anything deeper is refused as a typed error
  // instead of overflowing the stack.
  const finalize = (v: Item, seen = new Set<unknown>(), depth = 0): PyValue => {
    if (depth > MAX_NESTING) {
      throw new DataError('ERR_DATA_BAD_FORMAT', `pickle nests containers deeper than ${MAX_NESTING} levels; not a data file`, { file });
    }
    const r = resolve(v);
    if (seen.has(r)) return r;
    if (Array.isArray(r)) {
      seen.add(r);
      for (let i = 0; i < r.length; i++) {
        const e = r[i] as Item;
        if (typeof e === 'object' && e !== null && !(e instanceof Uint8Array)) r[i] = finalize(e, seen, depth + 1);
      }
    } else if (r instanceof Map) {
      seen.add(r);
      for (const [k, e] of r) if (typeof e === 'object' && e !== null && !(e instanceof Uint8Array)) r.set(k, finalize(e as Item, seen, depth + 1));
    }
    return r;
  };

  for (;;) {
    if (pos >= buf.length) {
      opPos = pos;
      fail('pickle ends without STOP', 'ERR_DATA_TRUNCATED');
    }
    opPos = pos;
    op = buf[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP '.'
        return { value: finalize(pop()), end: pos };
      case 0x28: // MARK '('
        stack.push(MARK);
        break;
      case 0x29: // EMPTY_TUPLE ')'
        stack.push([]);
        break;
      case 0x74: // TUPLE 't'
        stack.push(popMark() as PyValue[]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()] as PyValue[]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b] as PyValue[]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c] as PyValue[]);
        break;
      }
      case 0x5d: // EMPTY_LIST ']'
        stack.push([]);
        break;
      case 0x6c: // LIST 'l'
        stack.push(popMark() as PyValue[]);
        break;
      case 0x61: {
        // APPEND 'a'
        const v = pop();
        asList(top()).push(v as PyValue);
        break;
      }
      case 0x65: {
        // APPENDS 'e'
        const items = popMark();
        const l = asList(top());
        for (const v of items) l.push(v as PyValue);
        break;
      }
      case 0x7d: // EMPTY_DICT '}'
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT 'd'
        const items = popMark();
        const d = new Map<PyKey, PyValue>();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM 's'
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS 'u'
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const l = asList(top());
        for (const v of items) l.push(v as PyValue);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark() as PyValue[]);
        break;
      case 0x4e: // NONE 'N'
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT 'J'
        stack.push(i32());
        break;
      case 0x4b: // BININT1 'K'
        stack.push(u8());
        break;
      case 0x4d: // BININT2 'M'
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longLE(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        stack.push(longLE(bytes(n)));
        break;
      }
      case 0x49: {
        // INT 'I' (text)
        const s = line().trim();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else {
          const v = Number(s);
          if (!Number.isInteger(v)) fail(`bad INT ${s}`);
          stack.push(v);
        }
        break;
      }
      case 0x4c: {
        // LONG 'L' (text)
        const s = line().trim().replace(/L$/, '');
        if (!/^-?\d+$/.test(s)) fail(`bad LONG ${s}`);
        const v = BigInt(s);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT 'G' (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT 'F' (text)
        stack.push(parseFloat(line()));
        break;
      case 0x54: // BINSTRING 'T' (py2 str → bytes)
        stack.push(bytes(i32()));
        break;
      case 0x55: // SHORT_BINSTRING 'U'
        stack.push(bytes(u8()));
        break;
      case 0x42: // BINBYTES 'B'
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES 'C'
        stack.push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()));
        break;
      case 0x58: // BINUNICODE 'X'
        stack.push(utf8.decode(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(bytes(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(bytes(u64())));
        break;
      case 0x71: // BINPUT 'q'
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT 'r'
        memo.set(u32(), top());
        break;
      case 0x70: // PUT 'p'
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET 'h'
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET 'j'
        stack.push(memoGet(u32()));
        break;
      case 0x67: // GET 'g'
        stack.push(memoGet(Number(line())));
        break;
      case 0x63: {
        // GLOBAL 'c'
        const module = line();
        const name = line();
        pushGlobal(module, name);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') fail('STACK_GLOBAL needs two strings');
        pushGlobal(module as string, name as string);
        break;
      }
      case 0x52: {
        // REDUCE 'R'
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x62: {
        // BUILD 'b'
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x51: // BINPERSID 'Q'
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID 'P'
        stack.push(persistent(line()));
        break;
      case 0x30: // POP '0'
        if (stack.length && stack[stack.length - 1] === MARK) stack.pop();
        else pop();
        break;
      case 0x31: // POP_MARK '1'
        popMark();
        break;
      case 0x32: // DUP '2'
        stack.push(top());
        break;
      default:
        fail(op === 0x97 || op === 0x98 ? 'out-of-band buffers are not supported' : 'unsupported opcode');
    }
  }
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
