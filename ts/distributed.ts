/**
 * Data-parallel training over MPI: the process's place in the job and the MPI lifetime.
 *
 * Under `mpirun -np N` every process runs the same program; {@link distributedWorld} says which
 * rank this one is. The MPI variant of the addon (see ts/native.ts) is loaded only then, MPI is
 * initialized once, and at exit MPI is finalized — or, when the process exits with an error,
 * the whole job is aborted (MPI_Abort), so that the other ranks stop at once instead of waiting
 * in a collective forever.
 *
 * @module
 */
import { writeSync } from 'node:fs';

import { InvalidArgumentError } from './errors.js';
import { callNative, loadNative, mpiEnvironment, type NativeBinding } from './native.js';

/**
 * This process's place in a data-parallel job (see {@link distributedWorld}).
 *
 * @category Training
 */
export interface DistributedWorld {
  /** Rank of this process, `0..size-1`; rank 0 prints progress and writes the results. */
  readonly rank: number;
  /** Processes in the job. */
  readonly size: number;
  /** Rank among the processes on this node. */
  readonly localRank: number;
  /** Processes on this node. */
  readonly localSize: number;
  /** The MPI library (MPI_Get_library_version, first line). */
  readonly library: string;
}

let world: DistributedWorld | null | undefined;
/** Every rank has reached the same point (the end of `train`): any exit may finalize. */
let settled = false;
let binding: NativeBinding | undefined;

/**
 * The MPI job this process is a rank of, initializing MPI on the first call; `null` outside MPI
 * (then nothing MPI-related is loaded) and for a job of one process.
 *
 * @throws {@link NativeLoadError} when the MPI variant of the addon cannot be loaded
 *
 * @category Training
 */
export function distributedWorld(): DistributedWorld | null {
  if (world !== undefined) return world;
  const env = mpiEnvironment();
  if (!env || env.size < 2) {
    world = null;
    return world;
  }
  const native = loadNative();
  const info = callNative(() => native.mpiInit!());
  if (info.size !== env.size || info.rank !== env.rank) {
    throw new InvalidArgumentError(`MPI says rank ${info.rank} of ${info.size} but ${env.source} says rank ${env.rank} of ${env.size}`);
  }
  binding = native;
  // Node runs 'exit' handlers before it prints an uncaught error, and MPI_Abort ends the process:
  // keep the error to print it first.
  let uncaught: unknown;
  process.on('uncaughtExceptionMonitor', (err) => (uncaught = err));
  process.once('exit', (code) => {
    if (code === 0 || settled) {
      native.mpiFinalize!(); // waits for the other ranks
      return;
    }
    // A failed rank takes the job down at once, so that no rank waits in a collective forever.
    const why = uncaught instanceof Error ? (uncaught.stack ?? uncaught.message) : uncaught !== undefined ? String(uncaught) : '';
    writeSync(2, `${why ? why + '\n' : ''}densenet: rank ${info.rank} of ${info.size} exits with code ${code}: aborting the MPI job (MPI_Abort)\n`);
    // Give mpirun a moment to forward that line before the job is torn down.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    native.mpiAbort!(code);
  });
  world = { rank: info.rank, size: info.size, localRank: env.localRank, localSize: env.localSize, library: info.library.split('\n')[0] ?? '' };
  return world;
}

/**
 * Element-wise sums over every rank (the same result on each); the values unchanged outside MPI.
 *
 * @param values - this rank's numbers
 *
 * @category Training
 */
export function allReduceSum(values: readonly number[]): number[] {
  if (!distributedWorld() || !binding) return [...values];
  const b = binding;
  return callNative(() => b.mpiAllReduceSum!([...values]));
}

/**
 * Waits until every rank gets here (no-op outside MPI).
 *
 * @category Training
 */
export function barrier(): void {
  if (!distributedWorld() || !binding) return;
  const b = binding;
  callNative(() => b.mpiBarrier!());
}

/**
 * Marks (true) that every rank has passed the same barrier with nothing left to exchange (the end
 * of `train`), so that an exit with a non-zero code (130 after a Ctrl-C) finalizes MPI instead of
 * aborting the job; false again when more collectives follow.
 *
 * @param value - whether the ranks are settled
 * @internal
 */
export function setSettled(value: boolean): void {
  settled = value;
}
