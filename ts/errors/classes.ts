/**
 * The error classes of the SDK: {@link DenseNetError} and one subclass per code.
 *
 * @module
 */
import type { DataErrorCode, ErrorCode } from './codes.js';

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
