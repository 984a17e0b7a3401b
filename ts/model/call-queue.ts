/**
 * The native call queue of one model: calls run one at a time, in call order, each after every
 * earlier call has settled; a signal cancels a call (at once, dropping its result); dispose frees
 * the native model once the queue has drained, and every later call is refused.
 *
 * @internal
 * @module
 */
import { InvalidArgumentError, abortErrorFor, throwIfAborted } from '../errors.js';
import { callNative, callNativeAsync, type NativeModel } from '../native-binding.js';

/** The queue and the native model it guards. */
export class ModelCallQueue {
  readonly #native: NativeModel;
  #tail: Promise<unknown> = Promise.resolve();
  #disposed: Promise<void> | null = null;

  constructor(native: NativeModel) {
    this.#native = native;
  }

  /** Whether {@link ModelCallQueue.dispose} was called. */
  get disposed(): boolean {
    return this.#disposed !== null;
  }

  /** Throws when the model was disposed (`what` names the call). */
  checkAlive(what: string): void {
    if (this.#disposed) {
      throw new InvalidArgumentError(`${what}: the model was disposed (dispose() was called); create or load a new model`);
    }
  }

  /** A synchronous native call on a live model, with the native errors mapped to typed ones. */
  sync<T>(what: string, fn: (native: NativeModel) => T): T {
    this.checkAlive(what);
    return callNative(() => fn(this.#native));
  }

  /** Runs `fn` after every earlier call on this model has settled; `signal` cancels the wait (and drops the result). */
  enqueue<T>(what: string, fn: (native: NativeModel) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      this.checkAlive(what);
      throwIfAborted(signal, what);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.#tail.then(() => {
      throwIfAborted(signal, what);
      return callNativeAsync(() => fn(this.#native));
    });
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    if (!signal) return run;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(abortErrorFor(what, signal));
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** Frees the native model once the calls already queued have settled; the same promise on every call. */
  dispose(): Promise<void> {
    if (this.#disposed) return this.#disposed;
    this.#disposed = this.#tail.then(() => {
      this.#native.dispose();
    });
    return this.#disposed;
  }
}
