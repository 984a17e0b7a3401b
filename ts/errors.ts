/**
 * Typed errors of the DenseNet SDK.
 *
 * Every error the SDK throws on purpose is a {@link DenseNetError} with a stable
 * machine-readable {@link DenseNetError.code}. Errors raised by the native addon
 * arrive as plain JS `Error`s whose message starts with a bracketed code
 * (`[ERR_SHAPE] ...`); {@link toDenseNetError} turns them into these classes.
 *
 * @module
 */

/** Every error code the SDK uses (native codes plus a few the TypeScript side adds). */
export const ERROR_CODES = [
  'ERR_INVALID_CONFIG',
  'ERR_SHAPE',
  'ERR_DTYPE',
  'ERR_WEIGHTS',
  'ERR_IO',
  'ERR_LABEL',
  'ERR_NONFINITE',
  'ERR_INVALID_ARG',
  'ERR_IMAGE',
  'ERR_NATIVE_LOAD',
  'ERR_NATIVE',
] as const;

/** A known error code; native errors with a code not in this list keep their code as a plain string. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Options accepted by every error constructor. */
export interface DenseNetErrorOptions {
  /** The underlying error (for example the native `Error` this one was mapped from). */
  cause?: unknown;
}

/**
 * Base class of every error the SDK throws on purpose.
 *
 * `instanceof DenseNetError` catches them all; {@link DenseNetError.code} tells them apart
 * without `instanceof` (useful across realms or after serialization).
 */
export class DenseNetError extends Error {
  /** Stable machine-readable code, for example `ERR_SHAPE`. */
  readonly code: string;

  /**
   * @param code - machine-readable code (see {@link ERROR_CODES})
   * @param message - human-readable message, without the `[CODE]` prefix
   * @param options - optional `cause`
   */
  constructor(code: string, message: string, options?: DenseNetErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** A model configuration is invalid (bad field value, unknown preset, impossible depth). Code `ERR_INVALID_CONFIG`. */
export class ConfigError extends DenseNetError {
  /** @param message - what is wrong, naming the field; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_INVALID_CONFIG', message, options);
  }
}

/** A tensor shape does not fit (wrong rank, length/shape mismatch, wrong channel count, input too small). Code `ERR_SHAPE`. */
export class ShapeError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_SHAPE', message, options);
  }
}

/** An argument has the wrong element type (for example a `Float64Array` or a plain array where a `Float32Array` is required). Code `ERR_DTYPE`. */
export class DTypeError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_DTYPE', message, options);
  }
}

/** A weights file does not match the model (missing/unexpected tensor, wrong tensor shape, corrupt file). Code `ERR_WEIGHTS`. */
export class WeightsError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_WEIGHTS', message, options);
  }
}

/** A file could not be read or written. Code `ERR_IO`. */
export class IoError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_IO', message, options);
  }
}

/** Labels are invalid: wrong count, or a value outside `[0, numClasses)`; the message names the index and the value. Code `ERR_LABEL`. */
export class LabelError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_LABEL', message, options);
  }
}

/** An input, a loss or a gradient contains NaN or infinity. Code `ERR_NONFINITE`. */
export class NonFiniteError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_NONFINITE', message, options);
  }
}

/** Any other invalid argument (bad option value, unknown memory mode, negative learning rate, ...). Code `ERR_INVALID_ARG`. */
export class InvalidArgumentError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_INVALID_ARG', message, options);
  }
}

/** An image could not be decoded or preprocessed. Code `ERR_IMAGE`. */
export class ImageError extends DenseNetError {
  /** @param message - what is wrong; @param options - optional cause */
  constructor(message: string, options?: DenseNetErrorOptions) {
    super('ERR_IMAGE', message, options);
  }
}

/** One place the loader looked for the native addon, and why it failed. */
export interface NativeLoadAttempt {
  /** A file path or a package name. */
  readonly target: string;
  /** Why loading it failed. */
  readonly reason: string;
}

/** The native addon could not be loaded from any location; {@link NativeLoadError.attempts} lists each one tried. Code `ERR_NATIVE_LOAD`. */
export class NativeLoadError extends DenseNetError {
  /** Every file path / package tried, in order, with the reason it failed. */
  readonly attempts: readonly NativeLoadAttempt[];

  /** @param message - summary; @param attempts - each location tried; @param options - optional cause */
  constructor(message: string, attempts: readonly NativeLoadAttempt[], options?: DenseNetErrorOptions) {
    super('ERR_NATIVE_LOAD', message, options);
    this.attempts = attempts;
  }
}

type ErrorClass = new (message: string, options?: DenseNetErrorOptions) => DenseNetError;

const CLASS_BY_CODE: Readonly<Record<string, ErrorClass>> = {
  ERR_INVALID_CONFIG: ConfigError,
  ERR_SHAPE: ShapeError,
  ERR_DTYPE: DTypeError,
  ERR_WEIGHTS: WeightsError,
  ERR_IO: IoError,
  ERR_LABEL: LabelError,
  ERR_NONFINITE: NonFiniteError,
  ERR_INVALID_ARG: InvalidArgumentError,
  ERR_IMAGE: ImageError,
};

/**
 * Builds the typed error for a code: the matching subclass for a known code,
 * otherwise a plain {@link DenseNetError} carrying the code.
 *
 * @param code - error code such as `ERR_SHAPE`
 * @param message - message without the `[CODE]` prefix
 * @param options - optional cause
 */
export function errorFromCode(code: string, message: string, options?: DenseNetErrorOptions): DenseNetError {
  const Cls = CLASS_BY_CODE[code];
  return Cls ? new Cls(message, options) : new DenseNetError(code, message, options);
}

const NATIVE_PREFIX = /^\[([A-Z][A-Z0-9_]*)\]\s?([\s\S]*)$/;

/**
 * Maps anything thrown by the native addon to a typed error.
 *
 * - A {@link DenseNetError} is returned unchanged.
 * - An `Error` whose message starts with `[ERR_CODE] ` becomes the class for that code
 *   (see {@link errorFromCode}); the prefix is removed from the message and the original
 *   error is kept as `cause`.
 * - Any other `Error` becomes a `DenseNetError` with code `ERR_NATIVE`.
 * - A non-`Error` value is wrapped likewise.
 *
 * @param err - the thrown value
 */
export function toDenseNetError(err: unknown): DenseNetError {
  if (err instanceof DenseNetError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_')) return errorFromCode(code, err.message, { cause: err });
    const m = NATIVE_PREFIX.exec(err.message);
    if (m) return errorFromCode(m[1]!, m[2]!, { cause: err });
    return new DenseNetError('ERR_NATIVE', err.message, { cause: err });
  }
  return new DenseNetError('ERR_NATIVE', String(err), { cause: err });
}
