/**
 * Typed errors of the data pipeline.
 *
 * @module
 */

/**
 * Machine-readable category of a {@link DataError}.
 *
 * - `TRUNCATED`: a file ends before the record or element it declares.
 * - `BAD_RECORD_SIZE`: a fixed-record file whose size is not a multiple of the record size.
 * - `LABEL_OUT_OF_RANGE`: a label outside `[0, numClasses)` (or outside 1..10 for SVHN).
 * - `UNDECODABLE_IMAGE`: an image file that the decoder rejects.
 * - `BAD_FORMAT`: a malformed container (MAT header, pickle opcode, tar header, asset header...).
 * - `NOT_FOUND`: the files of a data set are not where they were looked for.
 * - `CHECKSUM_MISMATCH`: a downloaded file whose MD5 differs from the published one.
 * - `DOWNLOAD_FAILED`: an HTTP or network failure while downloading.
 * - `INVALID_ARGUMENT`: an option out of range (batch size, split size, crop size...).
 */
export type DataErrorCode =
  | 'TRUNCATED'
  | 'BAD_RECORD_SIZE'
  | 'LABEL_OUT_OF_RANGE'
  | 'UNDECODABLE_IMAGE'
  | 'BAD_FORMAT'
  | 'NOT_FOUND'
  | 'CHECKSUM_MISMATCH'
  | 'DOWNLOAD_FAILED'
  | 'INVALID_ARGUMENT';

/** Where a {@link DataError} happened: the file and, when known, the record index in it. */
export interface DataErrorOptions {
  /** The file (or URL) being read. Included in the message. */
  file?: string;
  /** Zero-based index of the record / sample / element in that file. Included in the message. */
  index?: number;
  /** The underlying error, if any (e.g. a zlib or sharp error). */
  cause?: unknown;
}

/**
 * Error thrown for bad or missing data. Its message always names the file and,
 * where it applies, the zero-based record index (`"<file>: record 12: label 11 out of range [0, 10)"`),
 * so a user can find the offending bytes; `code`, `file` and `index` carry the same facts for programs.
 *
 * Readers never let a malformed file crash with a `RangeError` or `TypeError`: they throw this instead.
 */
export class DataError extends Error {
  /** Category of the failure. */
  readonly code: DataErrorCode;
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
    super(where + message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'DataError';
    this.code = code;
    if (opts.file !== undefined) this.file = opts.file;
    if (opts.index !== undefined) this.index = opts.index;
  }
}

/** Throws a `DataError('INVALID_ARGUMENT')` unless `cond` holds. @internal */
export function checkArg(cond: boolean, message: string): asserts cond {
  if (!cond) throw new DataError('INVALID_ARGUMENT', message);
}
