/**
 * From codes to classes: the typed error of a code, and the mapping of whatever the native
 * addon throws to a typed error (by its `code` property; messages are never parsed).
 *
 * @module
 */
import {
  AbortError,
  ConfigError,
  DataError,
  DenseNetError,
  DeviceError,
  DTypeError,
  ImageError,
  InternalError,
  InvalidArgumentError,
  IoError,
  LabelError,
  MemoryError,
  NativeLoadError,
  NonFiniteError,
  ShapeError,
  WeightsError,
  type DenseNetErrorOptions,
} from './classes.js';
import { DATA_ERROR_CODES, ERROR_CODES, type DataErrorCode, type ErrorCode } from './codes.js';

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
