/**
 * A Rust panic in the WASM build (panic = "abort": the call traps) becomes an ERR_INTERNAL error
 * carrying the panic's message, and the module instance then refuses every call with ERR_INTERNAL
 * (its state may be half updated). Its own test file: ava runs each file in its own process, and
 * the abort is per process. A missing WASM build FAILS this test.
 */
import test from 'ava';

import { TINY } from './helpers/util.js';
import { loadWasm } from './helpers/wasm.js';

test('a panic is ERR_INTERNAL with its message, and the instance refuses later calls', async (t) => {
  const wasm = loadWasm() as ReturnType<typeof loadWasm> & { __panicForTests(message: string): void };
  const m = new wasm.NativeModel(JSON.stringify(TINY), 'f32', 1);
  const err = t.throws(() => wasm.__panicForTests('boom 42')) as Error & { code?: string; cause?: unknown };
  t.is(err.code, 'ERR_INTERNAL');
  t.regex(err.message, /^wasm panic: boom 42 at src\/lib\.rs:\d+$/);
  t.true(err.cause instanceof WebAssembly.RuntimeError);
  const later = t.throws(() => wasm.presetNames()) as Error & { code?: string };
  t.is(later.code, 'ERR_INTERNAL');
  t.regex(later.message, /aborted on an earlier error.*boom 42/);
  const rejected = await m.predict(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]).catch((e: unknown) => e);
  t.is((rejected as { code?: string }).code, 'ERR_INTERNAL');
  t.notThrows(() => m.dispose(), 'dispose after an abort is a no-op');
});
