/**
 * Aborts: recognizing one ({@link isAbortError}) and raising the SDK's {@link AbortError} for a
 * signal that fired.
 *
 * @module
 */
import { AbortError } from './classes.js';

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
