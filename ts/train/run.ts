/**
 * The state of one training run that the loop's parts share: the model, the recipe, the files,
 * the data set sizes, the MPI job, the results so far, the timing sums, and how to emit events;
 * and the end of a run ({@link finishRun}).
 *
 * @internal
 * @module
 */
import { allReduceSum, barrier, setSettled, type DistributedWorld } from '../distributed.js';
import type { DenseNet } from '../model.js';
import { abortErrorCause, TrainAbortError } from './abort.js';
import type { TrainEvent } from './events.js';
import { writeJsonAtomicAsync, writeResultsCsvAsync, type EpochRecord } from './io.js';
import type { TrainRecipe } from './options.js';
import { summaryJson, type BestRecord, type TrainPaths, type TrainResult } from './results.js';

/** Images in the training, validation and test sets. */
export interface RunSizes {
  train: number;
  validation: number;
  test: number;
}

/** Timing sums of the run, for throughput, the data share and the ETA (milliseconds). */
export interface RunTiming {
  totalData: number;
  totalStep: number;
  totalImages: number;
  totalTrainMs: number;
  lastEvalMs: number;
  /** Running estimate of one batch. */
  msPerBatch: number;
}

/** One training run. */
export interface TrainRun {
  readonly model: DenseNet;
  readonly recipe: TrainRecipe;
  readonly paths: TrainPaths;
  readonly sizes: RunSizes;
  /** The MPI job, or null for one process. */
  readonly world: DistributedWorld | null;
  /** Whether this process writes the files and emits the events (rank 0, or the only process). */
  readonly lead: boolean;
  readonly worldSize: number;
  readonly signal: AbortSignal | undefined;
  /** `performance.now()` when `train` was called. */
  readonly t0: number;
  readonly batchesPerEpoch: number;
  /** Seconds of the run before it was resumed. */
  priorSeconds: number;
  records: EpochRecord[];
  best: BestRecord | null;
  readonly timing: RunTiming;
  /** Passes an event to the callbacks (rank 0 only). */
  emit(e: TrainEvent): Promise<void>;
}

/** Zero timing sums. */
export function newTiming(): RunTiming {
  return { totalData: 0, totalStep: 0, totalImages: 0, totalTrainMs: 0, lastEvalMs: 0, msPerBatch: 0 };
}

/** Whether any rank says `flag` (just `flag` for one process): the ranks agree on a stop. */
export function agree(run: TrainRun, flag: boolean): boolean {
  return run.world ? allReduceSum([flag ? 1 : 0])[0]! > 0 : flag;
}

/** Rewrites `results.csv` with `rows` (rank 0 only). */
export async function writeResults(run: TrainRun, rows: EpochRecord[]): Promise<void> {
  if (run.lead) await writeResultsCsvAsync(run.paths.results, rows);
}

/** Seconds left from `batchDone` batches into `epoch`: the running batch time and the last evaluation's. */
export function eta(run: TrainRun, epoch: number, batchDone: number): number {
  const batchesLeft = (run.recipe.epochs - epoch) * run.batchesPerEpoch - batchDone;
  const evalsLeft = run.recipe.epochs - epoch;
  return (batchesLeft * run.timing.msPerBatch + evalsLeft * run.timing.lastEvalMs) / 1000;
}

/** Writes summary.json and emits `end`; resolves to the result, or (aborted) rejects with TrainAbortError. */
export async function finishRun(run: TrainRun, abortedAt: { epoch: number; batch: number } | null): Promise<TrainResult> {
  const { records, recipe, sizes, timing } = run;
  const last = records[records.length - 1];
  const noValidation = sizes.validation === 0;
  const bestRec = noValidation && last ? { epoch: last.epoch, validLoss: null, validError: null, testError: last.testError } : run.best;
  const seconds = (performance.now() - run.t0) / 1000;
  const result: TrainResult = {
    aborted: abortedAt !== null,
    epochsCompleted: records.length,
    epochs: recipe.epochs,
    records,
    best: bestRec,
    testError: bestRec?.testError ?? null,
    seconds,
    totalSeconds: run.priorSeconds + seconds,
    imagesPerSecond: timing.totalTrainMs > 0 ? (timing.totalImages * 1000) / timing.totalTrainMs : 0,
    dataShare: timing.totalData + timing.totalStep > 0 ? timing.totalData / (timing.totalData + timing.totalStep) : 0,
    recipe,
    paths: run.paths,
  };
  if (run.lead) await writeJsonAtomicAsync(run.paths.summary, summaryJson(result, sizes));
  await run.emit({ type: 'end', result });
  // Nobody leaves before rank 0 has written its files: a rank exiting with an error code (130
  // after an abort) takes the whole job down (MPI_Abort).
  if (run.world) {
    barrier();
    setSettled(true);
  }
  if (abortedAt) throw new TrainAbortError(result, abortedAt, abortErrorCause(run.signal));
  return result;
}
