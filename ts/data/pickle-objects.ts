/**
 * The objects a pickle builds: REDUCE of the allowed globals, BUILD, and the finished result.
 * Nothing here runs code: every global is looked up in a fixed table (or the caller's hooks).
 *
 * @internal
 * @module
 */
import { DenseNetError } from '../errors.js';
import { DataError } from './errors.js';
import {
  asString,
  describe,
  dtypeString,
  isObj,
  type DType,
  type Item,
  type NdArray,
  type PendingArray,
  type PyGlobal,
  type PyKey,
  type PyValue,
  type UnpickleOptions,
} from './pickle-values.js';

/** Throws the unpickler's typed error for the current opcode. */
export type Fail = (msg: string, code?: 'ERR_DATA_BAD_FORMAT' | 'ERR_DATA_TRUNCATED') => never;

/** Deepest container nesting a data pickle may have. */
const MAX_NESTING = 1000;

/** `x` as a list (a pickled list, tuple or set), else the typed error. */
export function asList(x: Item, fail: Fail): PyValue[] {
  if (!Array.isArray(x)) fail(`expected a list, got ${describe(x)}`);
  return x as PyValue[];
}

/**
 * REDUCE: the value of calling the global `fn` with `args`, through the `reduce` hook or the
 * data-file allow-list (numpy arrays, dtype, bytes, sets, OrderedDict). @internal
 */
export function reduceGlobal(fn: Item, args: Item, options: UnpickleOptions, fail: Fail): Item {
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
        return reduceGlobal({ kind: 'global', module: '_codecs', name: 'encode' }, [asString(a[0]!), (a[1] ?? 'latin1') as PyValue], options, fail);
      }
      case '__builtin__.set':
      case 'builtins.set':
      case '__builtin__.frozenset':
      case 'builtins.frozenset':
        return a.length ? [...asList(a[0]!, fail)] : [];
      case 'collections.OrderedDict':
        return new Map<PyKey, PyValue>();
      default:
        return fail(`refusing global ${full} (only numpy arrays, dtype, bytes and containers are supported)`);
    }
  } catch (e) {
    if (e instanceof DenseNetError) throw e;
    return fail((e as Error).message);
  }
}

/** BUILD: sets the state of a pending numpy array, a dtype or a dict. @internal */
export function buildObject(obj: Item, state: Item, fail: Fail): void {
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
}

/** A finished item as a value (a pending array becomes its NdArray). */
function resolve(x: Item, fail: Fail): PyValue {
  if (isObj(x, 'pending-ndarray')) {
    const r = (x as PendingArray).result;
    if (!r) fail('ndarray without state');
    return r!;
  }
  if (isObj(x, 'global') || isObj(x, 'dtype')) return fail(`unexpected ${describe(x)} in the result`);
  return x as PyValue;
}

// Arrays reconstructed lazily are replaced in containers when the pickle is finished.
// Data pickles (CIFAR batches) nest a few levels; anything deeper is refused as a typed error
// instead of overflowing the stack.
/** The result of a pickle with its pending arrays replaced, everywhere in it. @internal */
export function finalizeValue(v: Item, file: string, fail: Fail, seen = new Set<unknown>(), depth = 0): PyValue {
  if (depth > MAX_NESTING) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `pickle nests containers deeper than ${MAX_NESTING} levels; not a data file`, { file });
  }
  const r = resolve(v, fail);
  if (seen.has(r)) return r;
  if (Array.isArray(r)) {
    seen.add(r);
    for (let i = 0; i < r.length; i++) {
      const e = r[i] as Item;
      if (typeof e === 'object' && e !== null && !(e instanceof Uint8Array)) r[i] = finalizeValue(e, file, fail, seen, depth + 1);
    }
  } else if (r instanceof Map) {
    seen.add(r);
    for (const [k, e] of r) if (typeof e === 'object' && e !== null && !(e instanceof Uint8Array)) r.set(k, finalizeValue(e as Item, file, fail, seen, depth + 1));
  }
  return r;
}
