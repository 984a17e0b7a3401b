/**
 * Typed errors of the data pipeline: {@link DataError} (defined with the SDK's other errors in
 * `ts/errors.ts`, re-exported here for the data modules) and an argument check.
 *
 * @module
 */
import { DataError } from '../errors.js';

export { DataError, DATA_ERROR_CODES, type DataErrorCode, type DataErrorOptions } from '../errors.js';

/** Throws a `DataError('ERR_DATA_INVALID_ARG')` unless `cond` holds. @internal */
export function checkArg(cond: boolean, message: string): asserts cond {
  if (!cond) throw new DataError('ERR_DATA_INVALID_ARG', message);
}
