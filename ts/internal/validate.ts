/**
 * Argument checks shared by the model API (in the spirit of sharp's `is.js`): each one names the
 * argument and what it got in an {@link InvalidArgumentError} (or the batch's typed errors).
 *
 * @internal
 * @module
 */
import { DTypeError, InvalidArgumentError, LabelError, NonFiniteError, ShapeError } from '../errors.js';

/** What a value is, for error messages: `null`, `a plain Array`, a class name or `typeof`. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a plain Array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Whether `v` is a safe integer >= 1. */
export function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/** `v` when it is a positive safe integer; else an InvalidArgumentError naming `name`. */
export function checkPositiveInt(name: string, v: unknown): number {
  if (!isPositiveInt(v)) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

/** `v` when it is a non-negative safe integer (a seed); else an InvalidArgumentError naming `name`. */
export function checkNonNegativeInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/** A thread count: a non-negative safe integer, 0 for all cores. */
export function checkThreads(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(`threads must be a non-negative integer (0 = all cores), got ${String(v)}`);
  }
  return v;
}

/** An image size: `n` (square) or `[height, width]`, as `[height, width]`. */
export function checkSize(v: unknown): [number, number] {
  if (typeof v === 'number') {
    const n = checkPositiveInt('size', v);
    return [n, n];
  }
  if (Array.isArray(v) && v.length === 2) return [checkPositiveInt('size[0] (height)', v[0]), checkPositiveInt('size[1] (width)', v[1])];
  throw new InvalidArgumentError(`size must be a positive integer or [height, width], got ${typeName(v)}`);
}

/** A non-empty path string. */
export function checkPath(name: string, path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError(`${name} must be a non-empty string, got ${typeName(path)}`);
  }
  return path;
}

/** An optional AbortSignal (anything with `aborted` and `addEventListener`). */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean' || typeof (signal as AbortSignal).addEventListener !== 'function') {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${typeName(signal)}`);
  }
  return signal as AbortSignal;
}

/** An options argument that must be an object (`what` names the call). */
export function checkOptionsObject(what: string, options: unknown): void {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`${what} options must be an object, got ${typeName(options)}`);
}

/** Whether `names` is an array of `n` strings (one class name per class). */
export function isClassNames(names: unknown, n: number): names is string[] {
  return Array.isArray(names) && names.length === n && names.every((name) => typeof name === 'string');
}

/** The NCHW shape of a memory estimate: non-negative integers. */
export function checkEstimateShape(shape: unknown): readonly number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ShapeError(`shape must be an array of non-negative integers [N, C, H, W], got ${JSON.stringify(shape)}`);
  }
  return shape as number[];
}

/**
 * Validates an NCHW float32 batch and its shape.
 *
 * @param input - must be a `Float32Array` with finite values
 * @param shape - `[n, c, h, w]`, positive integers whose product is `input.length`
 * @param inChannels - required `c`
 * @returns the shape as a plain number array
 * @throws {@link DTypeError} for a non-Float32Array; {@link ShapeError} for a bad shape;
 *   {@link NonFiniteError} for NaN/Infinity (naming the index)
 * @internal
 */
export function validateBatch(input: unknown, shape: unknown, inChannels: number): number[] {
  if (!(input instanceof Float32Array)) {
    throw new DTypeError(`input must be a Float32Array, got ${typeName(input)}`);
  }
  if (!Array.isArray(shape) && !(shape instanceof Int32Array) && !(shape instanceof Uint32Array)) {
    throw new ShapeError(`shape must be an array [n, c, h, w], got ${typeName(shape)}`);
  }
  const dims = Array.from(shape as ArrayLike<unknown>);
  if (dims.length !== 4) {
    throw new ShapeError(`shape must have 4 dimensions [n, c, h, w], got ${dims.length}: [${dims.join(', ')}]`);
  }
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) {
      throw new ShapeError(`shape[${i}] must be a positive integer, got ${String(d)}`);
    }
  });
  const nums = dims as number[];
  const product = nums.reduce((a, b) => a * b, 1);
  if (product !== input.length) {
    throw new ShapeError(
      `input has ${input.length} values but shape [${nums.join(', ')}] needs ${product}`,
    );
  }
  if (nums[1] !== inChannels) {
    throw new ShapeError(`shape[1] (channels) must equal the model's inChannels ${inChannels}, got ${nums[1]}`);
  }
  for (let i = 0; i < input.length; i++) {
    if (!Number.isFinite(input[i]!)) throw new NonFiniteError(`input[${i}] is ${input[i]}`);
  }
  return nums;
}

/**
 * Validates class labels.
 *
 * @param labels - must be an `Int32Array`
 * @param n - batch size (required length)
 * @param numClasses - each label must be in `[0, numClasses)`
 * @throws {@link DTypeError} for a non-Int32Array; {@link LabelError} for a wrong length or a
 *   value out of range (naming the index and the value)
 * @internal
 */
export function validateLabels(labels: unknown, n: number, numClasses: number): Int32Array {
  if (!(labels instanceof Int32Array)) {
    throw new DTypeError(`labels must be an Int32Array, got ${typeName(labels)}`);
  }
  if (labels.length !== n) {
    throw new LabelError(`labels has length ${labels.length} but the batch has ${n} samples`);
  }
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (v < 0 || v >= numClasses) {
      throw new LabelError(`labels[${i}] = ${v} is outside [0, ${numClasses})`);
    }
  }
  return labels;
}
