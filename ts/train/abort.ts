/**
 * {@link TrainAbortError}: how a stopped training run rejects, and where it can resume.
 *
 * @module
 */
import { AbortError } from '../errors.js';
import type { TrainResult } from './results.js';

/**
 * The {@link AbortError} {@link train} rejects with when its `signal` fires: training stopped
 * cleanly at a batch boundary (or between evaluation batches), and a resumable checkpoint,
 * `results.csv` and `summary.json` were written first. Like every abort of the SDK it has
 * `name === 'AbortError'` and `code === 'ABORT_ERR'` (and `instanceof AbortError`); `cause` is the
 * signal's reason. Its properties say where training stopped and how to continue: call
 * {@link train} again with the same options and `resume: true` (`densenet train --resume --out DIR`).
 *
 * @example
 * ```ts
 * try {
 *   await train(model, { trainSet, outDir: 'runs/c10', signal });
 * } catch (err) {
 *   if (!(err instanceof TrainAbortError)) throw err;
 *   console.log(`stopped after ${err.result.epochsCompleted} epochs; checkpoint ${err.checkpoint}`);
 * }
 * ```
 *
 * @category Errors
 */
export class TrainAbortError extends AbortError {
  /** The checkpoint written when training stopped (`outDir/checkpoint.safetensors`). */
  readonly checkpoint: string;
  /** Where training resumes (the checkpoint's schedule position). */
  readonly position: {
    /** The 0-based epoch being trained. */
    readonly epoch: number;
    /** The index of its next batch (= batches per epoch: the epoch is trained, its evaluation pending). */
    readonly batch: number;
  };
  /** What {@link train} would have resolved to at this point (`aborted: true`): records, best epoch, times, paths. */
  readonly result: TrainResult;

  /**
   * @param result - the results up to the stop
   * @param position - where training resumes
   * @param options - optional cause (the signal's reason)
   */
  constructor(result: TrainResult, position: { epoch: number; batch: number }, options?: { cause?: unknown }) {
    super(
      `training was aborted in epoch ${position.epoch + 1} of ${result.epochs} (after ${result.epochsCompleted} complete ` +
        `epoch${result.epochsCompleted === 1 ? '' : 's'}); checkpoint ${result.paths.checkpoint} (continue with resume: true)`,
      options,
    );
    this.name = 'AbortError';
    this.checkpoint = result.paths.checkpoint;
    this.position = { epoch: position.epoch, batch: position.batch };
    this.result = result;
  }
}

/** The `cause` option of an abort error for `signal`: its reason, unless that is the default DOM AbortError. */
export function abortErrorCause(signal: AbortSignal | undefined): { cause?: unknown } | undefined {
  const reason: unknown = signal?.reason;
  if (reason === undefined) return undefined;
  if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'AbortError') return undefined;
  return { cause: reason };
}
