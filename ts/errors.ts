/**
 * Typed errors of the DenseNet SDK.
 *
 * Every error the SDK throws is a {@link DenseNetError} with a stable machine-readable
 * {@link DenseNetError.code} from {@link ERROR_CODES}. The codes start with `ERR_`, with one
 * exception: {@link AbortError} has the code `ABORT_ERR`, as Node.js's own abort errors do, so
 * that code written for Node's `AbortError` (`err.name === 'AbortError'` or
 * `err.code === 'ABORT_ERR'`) also recognizes the SDK's.
 *
 * Errors raised by the native addon are JS `Error`s whose `code` property is one of the native
 * codes ({@link NATIVE_ERROR_CODES}); `toDenseNetError` maps them to these classes by that
 * property (messages are never parsed) and keeps the original error as `cause`.
 *
 * @module
 */

/**
 * The codes the native addon sets on the errors it throws (the `code` property of a JS `Error`).
 *
 * @category Errors
 */
export const NATIVE_ERROR_CODES = [
  'ERR_INVALID_CONFIG',
  'ERR_SHAPE',
  'ERR_WEIGHTS',
  'ERR_IO',
  'ERR_LABEL',
  'ERR_NONFINITE',
  'ERR_INVALID_ARG',
  'ERR_MEMORY',
  'ERR_DEVICE',
  'ERR_INTERNAL',
] as const;

/**
 * The codes of {@link DataError}: bad or missing data files, downloads and data-pipeline options.
 *
 * @category Errors
 */
export const DATA_ERROR_CODES = [
  'ERR_DATA_TRUNCATED',
  'ERR_DATA_BAD_RECORD_SIZE',
  'ERR_DATA_LABEL_OUT_OF_RANGE',
  'ERR_DATA_UNDECODABLE_IMAGE',
  'ERR_DATA_BAD_FORMAT',
  'ERR_DATA_NOT_FOUND',
  'ERR_DATA_CHECKSUM_MISMATCH',
  'ERR_DATA_DOWNLOAD_FAILED',
  'ERR_DATA_INVALID_ARG',
] as const;

/**
 * Every error code the SDK uses: the native codes, those the TypeScript side adds
 * (`ERR_DTYPE`, `ERR_IMAGE`, `ERR_NATIVE_LOAD`), the data codes and `ABORT_ERR`.
 *
 * @category Errors
 */
export const ERROR_CODES = [
  ...NATIVE_ERROR_CODES,
  'ERR_DTYPE',
  'ERR_IMAGE',
  'ERR_NATIVE_LOAD',
  ...DATA_ERROR_CODES,
  'ABORT_ERR',
] as const;

/**
 * A code of {@link ERROR_CODES}.
 *
 * @category Errors
 */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * A code the native addon throws with (see {@link NATIVE_ERROR_CODES}).
 *
 * @category Errors
 */
export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number];

/**
 * A code of {@link DataError} (see {@link DATA_ERROR_CODES}).
 *
 * @category Errors
 */
export type DataErrorCode = (typeof DATA_ERROR_CODES)[number];

/**
 * Options accepted by every error constructor.
 *
 * @category Errors
 */
export interface DenseNetErrorOptions {
  /** The underlying error (for example the native `Error` this one was mapped from). */
  cause?: unknown;
}

/**
 * Base class of every error the SDK throws.
 *
 * `instanceof DenseNetError` catches them all; {@link DenseNetError.code} tells them apart
 * without `instanceof` (useful across realms, across the ESM and CommonJS builds, or after
 * serialization). `name` is the class name (`'ShapeError'`, `'AbortError'`, ...).
 *
 * @category Errors
 */
export class DenseNetError extends Error {
  /** Stable machine-readable code, for example `ERR_SHAPE` (see {@link ERROR_CODES}). */
  readonly code: ErrorCode;

  /**
   * @param code - machine-readable code (see {@link ERROR_CODES})
   * @param message - human-readable message
   * @param options - optional `cause`
   */
  constructor(code: ErrorCode, message: string, options?: DenseNetErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A model configuration is invalid (bad field value, unknown preset, impossible depth). Code `ERR_INVALID_CONFIG`.
 *
 * @category Errors
 */
export class ConfigError extends DenseNetError {
  /** @param message - what is wrong, naming the field; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_INVALID_CONFIG', message, options);
  }
}

/**
 * A tensor shape does not fit (wrong rank, length/shape mismatch, wrong channel count, input too small). Code `ERR_SHAPE`.
 *
 * @category Errors
 */
export class ShapeError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_SHAPE', message, options);
  }
}

/**
 * An argument has the wrong element type (for example a `Float64Array` or a plain array where a `Float32Array` is required). Code `ERR_DTYPE`.
 *
 * @category Errors
 */
export class DTypeError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_DTYPE', message, options);
  }
}

/**
 * A weights file does not fit (missing/unexpected tensor, wrong tensor shape, corrupt file), or
 * lacks something asked of it (no stored architecture when no config is given). Code `ERR_WEIGHTS`.
 *
 * @category Errors
 */
export class WeightsError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_WEIGHTS', message, options);
  }
}

/**
 * A file could not be read or written. Code `ERR_IO`.
 *
 * @category Errors
 */
export class IoError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_IO', message, options);
  }
}

/**
 * Labels are invalid: wrong count, or a value outside `[0, numClasses)`; the message names the index and the value. Code `ERR_LABEL`.
 *
 * @category Errors
 */
export class LabelError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_LABEL', message, options);
  }
}

/**
 * An input, a loss or a gradient contains NaN or infinity. Code `ERR_NONFINITE`.
 *
 * @category Errors
 */
export class NonFiniteError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_NONFINITE', message, options);
  }
}

/**
 * Any other invalid argument (bad option value, unknown memory mode, negative learning rate,
 * a disposed model, ...). Code `ERR_INVALID_ARG`.
 *
 * @category Errors
 */
export class InvalidArgumentError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_INVALID_ARG', message, options);
  }
}

/**
 * A bug: the native core panicked (the process survives), or the addon failed in a way the SDK
 * does not expect (an error without a known code). Please report it. Code `ERR_INTERNAL`.
 *
 * @category Errors
 */
export class InternalError extends DenseNetError {
  /** @param message - what happened; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_INTERNAL', message, options);
  }
}

/**
 * A model or a pass would need more memory than the budget: the message names the operation,
 * the bytes it needs and the budget (see `DenseNet.memoryEstimate` and `setMemoryBudget`).
 * Refused before anything is allocated; the model stays usable. Code `ERR_MEMORY`.
 *
 * @category Errors
 */
export class MemoryError extends DenseNetError {
  /** @param message - what needs how much; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_MEMORY', message, options);
  }
}

/**
 * The compute device asked for (`device: 'cuda'` / `'cuda:N'`, CLI `--device`) cannot be used:
 * the addon is the CPU build, no NVIDIA driver or GPU, a missing CUDA library (the message names
 * it), or an index past the GPUs present. Code `ERR_DEVICE`.
 *
 * @category Errors
 */
export class DeviceError extends DenseNetError {
  /** @param message - what is missing; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_DEVICE', message, options);
  }
}

/**
 * An image could not be decoded or preprocessed. Code `ERR_IMAGE`.
 *
 * @category Errors
 */
export class ImageError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_IMAGE', message, options);
  }
}

/**
 * One place the loader looked for the native addon, and why it failed.
 *
 * @category Errors
 */
export interface NativeLoadAttempt {
  /** A file path or a package name. */
  readonly target: string;
  /** Why loading it failed. */
  readonly reason: string;
}

/**
 * The native addon could not be loaded from any location; {@link NativeLoadError.attempts} lists each one tried. Code `ERR_NATIVE_LOAD`.
 *
 * @category Errors
 */
export class NativeLoadError extends DenseNetError {
  /** Every file path / package tried, in order, with the reason it failed. */
  readonly attempts: readonly NativeLoadAttempt[];

  /** @param message - summary; @param attempts - each location tried; @param options - optional cause */
  constructor(message: string, attempts: readonly NativeLoadAttempt[] = [], options?: DenseNetErrorOptions) {
    super('ERR_NATIVE_LOAD', message, options);
    this.attempts = attempts;
  }
}

/**
 * An operation was cancelled through its `AbortSignal` (`train`, `evaluate`, `predict`, `trainStep`,
 * downloads, ...). `name` is `'AbortError'` and `code` is `'ABORT_ERR'`, following Node.js's own
 * abort errors — the one code without the `ERR_` prefix. `cause` is the signal's `reason` when it
 * has one.
 *
 * @category Errors
 */
export class AbortError extends DenseNetError {
  /** @param message - what was aborted; @param options - optional cause (the signal's reason) */
  constructor(message = 'the operation was aborted', options?: DenseNetErrorOptions) {
    super('ABORT_ERR', message, options);
  }
}

/**
 * Where a {@link DataError} happened: the file and, when known, the record index in it.
 *
 * @category Errors
 */
export interface DataErrorOptions {
  /** The file (or URL) being read. Included in the message. */
  file?: string;
  /** Zero-based index of the record / sample / element in that file. Included in the message. */
  index?: number;
  /** The underlying error, if any (e.g. a zlib or sharp error). */
  cause?: unknown;
}

/**
 * Bad or missing data, a failed download, or an invalid data-pipeline option. Its message always
 * names the file and, where it applies, the zero-based record index
 * (`"<file>: record 12: label 11 out of range [0, 10)"`), so a user can find the offending bytes;
 * `code`, `file` and `index` carry the same facts for programs.
 *
 * Codes ({@link DATA_ERROR_CODES}):
 * - `ERR_DATA_TRUNCATED`: a file ends before the record or element it declares.
 * - `ERR_DATA_BAD_RECORD_SIZE`: a fixed-record file whose size is not a multiple of the record size.
 * - `ERR_DATA_LABEL_OUT_OF_RANGE`: a label outside `[0, numClasses)` (or outside 1..10 for SVHN).
 * - `ERR_DATA_UNDECODABLE_IMAGE`: an image file that the decoder rejects.
 * - `ERR_DATA_BAD_FORMAT`: a malformed container (MAT header, pickle opcode, tar header, asset header...).
 * - `ERR_DATA_NOT_FOUND`: the files of a data set are not where they were looked for.
 * - `ERR_DATA_CHECKSUM_MISMATCH`: a downloaded file whose MD5 differs from the published one.
 * - `ERR_DATA_DOWNLOAD_FAILED`: an HTTP or network failure while downloading.
 * - `ERR_DATA_INVALID_ARG`: a data-pipeline option out of range (batch size, split size, crop size...).
 *
 * Readers never let a malformed file crash with a `RangeError` or `TypeError`: they throw this instead.
 *
 * @category Errors
 */
export class DataError extends DenseNetError {
  declare readonly code: DataErrorCode;
  /** The file (or URL) involved, if any. */
  readonly file?: string;
  /** Zero-based record index in {@link DataError.file}, if the failure is tied to one record. */
  readonly index?: number;

  /**
   * @param code - category of the failure
   * @param message - what went wrong (the file and index are prepended automatically)
   * @param opts - the file, record index and cause
   */
  constructor(code: DataErrorCode, message: string, opts: DataErrorOptions = {}) {
    const where =
      opts.file !== undefined
        ? opts.index !== undefined
          ? `${opts.file}: record ${opts.index}: `
          : `${opts.file}: `
        : opts.index !== undefined
          ? `record ${opts.index}: `
          : '';
    super(code, where + message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    if (opts.file !== undefined) this.file = opts.file;
    if (opts.index !== undefined) this.index = opts.index;
  }
}

type ErrorFactory = (message: string, options?: DenseNetErrorOptions) => DenseNetError;

const FACTORY_BY_CODE: Readonly<Record<Exclude<ErrorCode, DataErrorCode>, ErrorFactory>> = {
  ERR_INVALID_CONFIG: (m, o) => new ConfigError(m, o),
  ERR_SHAPE: (m, o) => new ShapeError(m, o),
  ERR_DTYPE: (m, o) => new DTypeError(m, o),
  ERR_WEIGHTS: (m, o) => new WeightsError(m, o),
  ERR_IO: (m, o) => new IoError(m, o),
  ERR_LABEL: (m, o) => new LabelError(m, o),
  ERR_NONFINITE: (m, o) => new NonFiniteError(m, o),
  ERR_INVALID_ARG: (m, o) => new InvalidArgumentError(m, o),
  ERR_INTERNAL: (m, o) => new InternalError(m, o),
  ERR_MEMORY: (m, o) => new MemoryError(m, o),
  ERR_DEVICE: (m, o) => new DeviceError(m, o),
  ERR_IMAGE: (m, o) => new ImageError(m, o),
  ERR_NATIVE_LOAD: (m, o) => new NativeLoadError(m, [], o),
  ABORT_ERR: (m, o) => new AbortError(m, o),
};

/**
 * Whether `code` is one of {@link ERROR_CODES}.
 *
 * @param code - any value
 */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/**
 * Builds the typed error for a code: the class of that code ({@link DataError} for the
 * `ERR_DATA_*` codes).
 *
 * @param code - a code of {@link ERROR_CODES}
 * @param message - the message
 * @param options - optional cause
 * @internal
 */
export function errorFromCode(code: ErrorCode, message: string, options?: DenseNetErrorOptions): DenseNetError {
  if ((DATA_ERROR_CODES as readonly string[]).includes(code)) {
    return new DataError(code as DataErrorCode, message, options?.cause !== undefined ? { cause: options.cause } : {});
  }
  return FACTORY_BY_CODE[code as Exclude<ErrorCode, DataErrorCode>](message, options);
}

/**
 * Whether `err` is an abort: an {@link AbortError}, or any error named `AbortError` (Node's and
 * the DOM's, e.g. from `fetch` or `timers/promises`).
 *
 * @param err - any value
 *
 * @category Errors
 */
export function isAbortError(err: unknown): boolean {
  return err instanceof AbortError || (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError');
}

/**
 * The {@link AbortError} for a signal that fired: its message names what was aborted, its cause is
 * the signal's `reason` (unless that is the default DOM `AbortError`).
 *
 * @param what - the operation, e.g. `'predict'`
 * @param signal - the aborted signal
 * @internal
 */
export function abortErrorFor(what: string, signal?: AbortSignal): AbortError {
  const reason: unknown = signal?.reason;
  const defaultReason = typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'AbortError';
  return new AbortError(`${what} was aborted`, reason === undefined || defaultReason ? undefined : { cause: reason });
}

/**
 * Throws {@link AbortError} when `signal` has fired.
 *
 * @param signal - the signal, if any
 * @param what - the operation, for the message
 * @internal
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortErrorFor(what, signal);
}

/**
 * Maps anything thrown by the native addon (or another dependency) to a typed error.
 *
 * - A {@link DenseNetError} is returned unchanged.
 * - An `Error` whose `code` property is one of {@link ERROR_CODES} (the native addon sets the
 *   {@link NATIVE_ERROR_CODES}) becomes the class of that code with the same message, and the
 *   original error as `cause`. The message is never parsed.
 * - An error named `AbortError` (Node's, the DOM's) becomes an {@link AbortError}.
 * - Anything else (an error without a known code, e.g. an argument conversion failure inside
 *   the addon, or a non-`Error` value) becomes an {@link InternalError} with the original as
 *   `cause`.
 *
 * @param err - the thrown value
 * @internal
 */
export function toDenseNetError(err: unknown): DenseNetError {
  if (err instanceof DenseNetError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (isErrorCode(code)) return errorFromCode(code, err.message, { cause: err });
    if (err.name === 'AbortError') return new AbortError(err.message || undefined, { cause: err });
    const tag = typeof code === 'string' && code !== '' ? ` (${code})` : '';
    return new InternalError(`unexpected error from the native addon${tag}: ${err.message}`, { cause: err });
  }
  return new InternalError(`unexpected non-Error value thrown: ${String(err)}`, { cause: err });
}
