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
import { asList, buildObject, finalizeValue, reduceGlobal } from './pickle-objects.js';
import { PickleReader } from './pickle-reader.js';
import { MARK, describe, longLE, toKey, utf8, type Item, type PyGlobal, type PyKey, type PyValue, type UnpickleOptions } from './pickle-values.js';

// The values, hooks and helpers live in pickle-values.ts; the modules and tests import them from here.
export { asPyGlobal, plain, pyGet, type NdArray, type PyKey, type PyValue, type UnpickleOptions } from './pickle-values.js';

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
  const r = new PickleReader(input, file, options.start ?? 0);
  const fail = r.fail;
  const stack: (Item | typeof MARK)[] = [];
  const memo = new Map<number, Item>();

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
  const memoGet = (i: number): Item => {
    if (!memo.has(i)) fail(`memo key ${i} not found`);
    return memo.get(i)!;
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

  const reduce = (fn: Item, args: Item): Item => reduceGlobal(fn, args, options, fail);
  const build = (obj: Item, state: Item): void => buildObject(obj, state, fail);

  for (;;) {
    if (r.pos >= r.buf.length) {
      r.opPos = r.pos;
      r.fail('pickle ends without STOP', 'ERR_DATA_TRUNCATED');
    }
    r.opPos = r.pos;
    const op = (r.op = r.buf[r.pos++]!);
    switch (op) {
      case 0x80: // PROTO
        r.u8();
        break;
      case 0x95: // FRAME
        r.u64();
        break;
      case 0x2e: // STOP '.'
        return { value: finalizeValue(pop(), file, fail), end: r.pos };
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
        asList(top(), fail).push(v as PyValue);
        break;
      }
      case 0x65: {
        // APPENDS 'e'
        const items = popMark();
        const l = asList(top(), fail);
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
        const l = asList(top(), fail);
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
        stack.push(r.i32());
        break;
      case 0x4b: // BININT1 'K'
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2 'M'
        stack.push(r.u16());
        break;
      case 0x8a: // LONG1
        stack.push(longLE(r.bytes(r.u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = r.i32();
        stack.push(longLE(r.bytes(n)));
        break;
      }
      case 0x49: {
        // INT 'I' (text)
        const s = r.line().trim();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else {
          const v = Number(s);
          if (!Number.isInteger(v)) r.fail(`bad INT ${s}`);
          stack.push(v);
        }
        break;
      }
      case 0x4c: {
        // LONG 'L' (text)
        const s = r.line().trim().replace(/L$/, '');
        if (!/^-?\d+$/.test(s)) r.fail(`bad LONG ${s}`);
        const v = BigInt(s);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT 'G' (big-endian)
        stack.push(r.f64be());
        break;
      case 0x46: // FLOAT 'F' (text)
        stack.push(parseFloat(r.line()));
        break;
      case 0x54: // BINSTRING 'T' (py2 str → bytes)
        stack.push(r.bytes(r.i32()));
        break;
      case 0x55: // SHORT_BINSTRING 'U'
        stack.push(r.bytes(r.u8()));
        break;
      case 0x42: // BINBYTES 'B'
        stack.push(r.bytes(r.u32()));
        break;
      case 0x43: // SHORT_BINBYTES 'C'
        stack.push(r.bytes(r.u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(r.bytes(r.u64()));
        break;
      case 0x58: // BINUNICODE 'X'
        stack.push(utf8.decode(r.bytes(r.u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(r.bytes(r.u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(r.bytes(r.u64())));
        break;
      case 0x71: // BINPUT 'q'
        memo.set(r.u8(), top());
        break;
      case 0x72: // LONG_BINPUT 'r'
        memo.set(r.u32(), top());
        break;
      case 0x70: // PUT 'p'
        memo.set(Number(r.line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET 'h'
        stack.push(memoGet(r.u8()));
        break;
      case 0x6a: // LONG_BINGET 'j'
        stack.push(memoGet(r.u32()));
        break;
      case 0x67: // GET 'g'
        stack.push(memoGet(Number(r.line())));
        break;
      case 0x63: {
        // GLOBAL 'c'
        const module = r.line();
        const name = r.line();
        pushGlobal(module, name);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') r.fail('STACK_GLOBAL needs two strings');
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
        stack.push(persistent(r.line()));
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
        r.fail(op === 0x97 || op === 0x98 ? 'out-of-band buffers are not supported' : 'unsupported opcode');
    }
  }
}
