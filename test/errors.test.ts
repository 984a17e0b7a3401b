/**
 * One error model: every code maps to its class, native errors map by their `code` property
 * (never by message) and keep the native error as `cause`, data errors and aborts are
 * DenseNetErrors, and the table of docs/errors.md lists every code.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import * as sdk from '../ts/index.js';
import {
  AbortError,
  ConfigError,
  DATA_ERROR_CODES,
  DataError,
  DenseNet,
  DenseNetError,
  ERROR_CODES,
  InternalError,
  InvalidArgumentError,
  IoError,
  NATIVE_ERROR_CODES,
  ShapeError,
  WeightsError,
  evaluate,
  isAbortError,
  loadDataset,
  loadImageFolder,
  loadNative,
} from '../ts/index.js';
import { errorFromCode, toDenseNetError, type ErrorCode } from '../ts/errors.js';
import { TINY, randn } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The class each code must map to. */
const CLASS_OF: Record<ErrorCode, string> = {
  ERR_INVALID_CONFIG: 'ConfigError',
  ERR_SHAPE: 'ShapeError',
  ERR_WEIGHTS: 'WeightsError',
  ERR_IO: 'IoError',
  ERR_LABEL: 'LabelError',
  ERR_NONFINITE: 'NonFiniteError',
  ERR_INVALID_ARG: 'InvalidArgumentError',
  ERR_INTERNAL: 'InternalError',
  ERR_MEMORY: 'MemoryError',
  ERR_DEVICE: 'DeviceError',
  ERR_DTYPE: 'DTypeError',
  ERR_IMAGE: 'ImageError',
  ERR_NATIVE_LOAD: 'NativeLoadError',
  ERR_DATA_TRUNCATED: 'DataError',
  ERR_DATA_BAD_RECORD_SIZE: 'DataError',
  ERR_DATA_LABEL_OUT_OF_RANGE: 'DataError',
  ERR_DATA_UNDECODABLE_IMAGE: 'DataError',
  ERR_DATA_BAD_FORMAT: 'DataError',
  ERR_DATA_NOT_FOUND: 'DataError',
  ERR_DATA_CHECKSUM_MISMATCH: 'DataError',
  ERR_DATA_DOWNLOAD_FAILED: 'DataError',
  ERR_DATA_INVALID_ARG: 'DataError',
  ABORT_ERR: 'AbortError',
};

test('every code maps to its exported class, which is a DenseNetError with that code and its class name', (t) => {
  t.deepEqual([...ERROR_CODES].sort(), Object.keys(CLASS_OF).sort());
  for (const code of ERROR_CODES) {
    const cause = new Error('underlying');
    const err = errorFromCode(code, 'something happened', { cause });
    const Cls = (sdk as unknown as Record<string, new (...a: never[]) => unknown>)[CLASS_OF[code]];
    t.truthy(Cls, `${CLASS_OF[code]} is exported from the package root`);
    t.true(err instanceof Cls!, code);
    t.true(err instanceof DenseNetError, code);
    t.true(err instanceof Error, code);
    t.is(err.code, code);
    t.is(err.name, CLASS_OF[code]);
    t.is(err.message, 'something happened');
    t.is(err.cause, cause);
  }
});

test('every code except ABORT_ERR has the ERR_ prefix; the data codes are ERR_DATA_*', (t) => {
  for (const code of ERROR_CODES) {
    if (code === 'ABORT_ERR') continue;
    t.regex(code, /^ERR_[A-Z_]+$/);
  }
  for (const code of DATA_ERROR_CODES) t.regex(code, /^ERR_DATA_/);
  t.deepEqual(
    [...NATIVE_ERROR_CODES].sort(),
    ['ERR_DEVICE', 'ERR_INTERNAL', 'ERR_INVALID_ARG', 'ERR_INVALID_CONFIG', 'ERR_IO', 'ERR_LABEL', 'ERR_MEMORY', 'ERR_NONFINITE', 'ERR_SHAPE', 'ERR_WEIGHTS'],
  );
});

test('toDenseNetError maps by the code property, keeps message and cause, and never parses the message', (t) => {
  for (const code of NATIVE_ERROR_CODES) {
    const native = Object.assign(new Error(`plain message for ${code}`), { code });
    const mapped = toDenseNetError(native);
    t.is(mapped.code, code);
    t.is(mapped.name, CLASS_OF[code]);
    t.is(mapped.message, native.message);
    t.is(mapped.cause, native);
  }
  // A bracketed prefix without a code property is not read: an error without a known code is internal.
  const old = new Error('[ERR_SHAPE] looks like the old format');
  const mapped = toDenseNetError(old);
  t.true(mapped instanceof InternalError);
  t.false(mapped instanceof ShapeError);
  t.is(mapped.cause, old);
  // napi-rs's own conversion errors carry codes like 'InvalidArg': internal, with the code in the message.
  const conv = Object.assign(new Error('Failed to convert napi value String into rust type `u32`'), { code: 'NumberExpected' });
  const c = toDenseNetError(conv);
  t.true(c instanceof InternalError);
  t.is(c.code, 'ERR_INTERNAL');
  t.regex(c.message, /NumberExpected/);
  // Non-errors are wrapped; DenseNetErrors pass through unchanged.
  t.true(toDenseNetError('a string') instanceof InternalError);
  const mine = new ConfigError('x');
  t.is(toDenseNetError(mine), mine);
  // Node's / the DOM's AbortError becomes the SDK's.
  const dom = new DOMException('This operation was aborted', 'AbortError');
  const a = toDenseNetError(dom);
  t.true(a instanceof AbortError);
  t.is(a.code, 'ABORT_ERR');
});

test('a real native error arrives as its class with the native Error as cause (code property, no prefix)', async (t) => {
  const model = DenseNet.create(TINY);
  // normalizeConfig is reached through createConfig; its native error is the cause.
  const err = t.throws(() => DenseNet.create({ ...TINY, growthRate: 0 }), { instanceOf: ConfigError });
  const cause = err!.cause as Error & { code?: string };
  t.true(cause instanceof Error);
  t.is(cause.code, 'ERR_INVALID_CONFIG');
  t.is(err!.message, cause.message);
  t.false(err!.message.startsWith('['));
  // An async native rejection: a shape the TypeScript checks let through (too small for the network).
  const big = DenseNet.create('densenet121');
  const shapeErr = await t.throwsAsync(big.predict(randn(3 * 8 * 8), [1, 3, 8, 8]), { instanceOf: ShapeError });
  t.is((shapeErr!.cause as { code?: string }).code, 'ERR_SHAPE');
  // The native optimizer check: InvalidArgumentError whose cause is the native error.
  const opt = t.throws(() => model.setOptimizer({ lr: 0.1, momentum: 1 }), { instanceOf: InvalidArgumentError, message: /momentum/ });
  t.is((opt!.cause as { code?: string }).code, 'ERR_INVALID_ARG');
  // Weights that do not fit: WeightsError from the core.
  const tv = join(root, 'crates/densenet-cpu/tests/fixtures/torchvision_small.safetensors');
  const w = await t.throwsAsync(model.load(tv), { instanceOf: WeightsError });
  t.is((w!.cause as { code?: string }).code, 'ERR_WEIGHTS');
  await Promise.all([model.dispose(), big.dispose()]);
});

test('the raw native error objects have a code property and no [CODE] prefix', (t) => {
  const native = loadNative();
  const raw = t.throws(() => native.normalizeOptimizer(JSON.stringify({ lr: -1 })));
  t.is((raw as Error & { code?: string }).code, 'ERR_INVALID_ARG');
  t.regex(raw!.message, /^lr /);
  const raw2 = t.throws(() => native.scheduleLr(JSON.stringify({ type: 'multiStep', lr: 0.1, milestones: [1], gamma: 0 }), 0));
  t.is((raw2 as Error & { code?: string }).code, 'ERR_INVALID_ARG');
  t.regex(raw2!.message, /gamma/);
});

test('data errors are DenseNetErrors with ERR_DATA_* codes; the class name users catch is still DataError', async (t) => {
  const e1 = await t.throwsAsync(loadImageFolder('/nonexistent/densenet-folder'), { instanceOf: DataError });
  t.true(e1 instanceof DenseNetError);
  t.is(e1!.code, 'ERR_DATA_NOT_FOUND');
  t.is(e1!.name, 'DataError');
  const e2 = await t.throwsAsync(loadDataset('mnist', { split: 'test' }), { instanceOf: DenseNetError });
  t.is(e2!.code, 'ERR_DATA_INVALID_ARG');
  t.true(e2 instanceof DataError);
  const e3 = await t.throwsAsync(loadDataset('cifar10', { root: '/nonexistent/densenet-data' }), { instanceOf: DataError });
  t.is(e3!.code, 'ERR_DATA_NOT_FOUND');
  t.regex(e3!.message, /--download/);
});

test('one AbortError everywhere: name AbortError, code ABORT_ERR, a DenseNetError; isAbortError recognizes Node\'s too', async (t) => {
  const ac = new AbortController();
  ac.abort(new Error('user cancelled'));
  const model = DenseNet.create({ ...TINY, inChannels: 1 });
  const ds = await loadDataset('mnist');
  const err = await t.throwsAsync(evaluate(model, ds, { signal: ac.signal }), { instanceOf: AbortError });
  t.true(err instanceof DenseNetError);
  t.is(err!.name, 'AbortError');
  t.is(err!.code, 'ABORT_ERR');
  t.is((err!.cause as Error).message, 'user cancelled', 'the signal\'s reason is the cause');
  t.true(isAbortError(err));
  t.true(isAbortError(new DOMException('x', 'AbortError')));
  t.false(isAbortError(new Error('x')));
  await model.dispose();
});

test('docs/errors.md lists every error code with its class', (t) => {
  const readme = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  for (const code of ERROR_CODES) {
    const row = readme.split('\n').find((l) => l.startsWith('|') && l.includes(`\`${code}\``));
    t.truthy(row, `docs/errors.md has a table row for ${code}`);
    t.true(row!.includes(`\`${CLASS_OF[code]}\``), `the row of ${code} names ${CLASS_OF[code]}`);
  }
});

test('errors thrown by TypeScript-side checks are typed too (IoError for a missing weights file)', async (t) => {
  await t.throwsAsync(DenseNet.load('/nonexistent/w.safetensors'), { instanceOf: IoError, message: /not found/ });
});
