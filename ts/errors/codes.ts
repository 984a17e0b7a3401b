/**
 * The table of error codes: those the native addon sets, those of the data readers, and every
 * code of the SDK ({@link ERROR_CODES}).
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
