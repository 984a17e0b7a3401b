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
 * The parts: the code table (`errors/codes.ts`), the classes (`errors/classes.ts`), the mapping
 * of codes and native errors to classes (`errors/mapping.ts`) and aborts (`errors/abort.ts`).
 *
 * @module
 */
export * from './errors/abort.js';
export * from './errors/classes.js';
export * from './errors/codes.js';
export * from './errors/mapping.js';
