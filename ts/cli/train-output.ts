/**
 * What `densenet train` prints: the per-epoch table row and JSON lines, the result line, the
 * start lines of a fine-tuning run, and the progress {@link Reporter}.
 *
 * @module
 */
import { resolve } from 'node:path';

import cliProgress from 'cli-progress';

import type { ModelConfig } from '../config.js';
import { roundLr, roundMetric, roundRate, roundSeconds, roundShare } from '../internal/round.js';
import type { DenseNet } from '../model.js';
import type { TrainJsonEpoch, TrainJsonResult } from '../cli-types.js';
import type { BatchEvent, EpochEvent, TrainResult } from '../train/train.js';
import type { TrainRecipe } from '../train/options.js';
import { formatEpochRow, formatInt, progressLine, terminalColumns, type ProgressState } from './format.js';
import { displayPath } from './last-run.js';
import type { TrainCommandOptions } from './train-options.js';

/** One row of the per-epoch table (the text output; at most 100 columns). */
export function formatEpochLine(e: EpochEvent): string {
  const r = e.record;
  return formatEpochRow({
    epoch: r.epoch,
    epochs: e.epochs,
    trainLoss: r.trainLoss,
    trainError: r.trainError,
    validLoss: r.validLoss,
    validError: r.validError,
    testError: r.testError,
    lr: e.lr,
    seconds: e.trainSeconds + e.evalSeconds,
    imagesPerSecond: e.imagesPerSecond,
    dataShare: e.dataShare,
    isBest: e.isBest,
  });
}

/** The JSON line of an epoch (`--json`): camelCase, rounded like `summary.json`. */
export function epochJson(e: EpochEvent): TrainJsonEpoch {
  const r = e.record;
  return {
    type: 'epoch',
    epoch: r.epoch,
    epochs: e.epochs,
    trainLoss: roundMetric(r.trainLoss),
    trainError: roundMetric(r.trainError),
    validLoss: roundMetric(r.validLoss),
    validError: roundMetric(r.validError),
    testError: roundMetric(r.testError),
    lr: roundLr(e.lr),
    trainSeconds: roundSeconds(e.trainSeconds),
    evalSeconds: roundSeconds(e.evalSeconds),
    imagesPerSecond: roundRate(e.imagesPerSecond),
    dataShare: roundShare(e.dataShare),
    bestEpoch: e.best?.epoch ?? null,
    isBest: e.isBest,
  };
}

/** The last JSON line of `train --json`. */
export function resultJson(result: TrainResult, outDir: string): TrainJsonResult {
  return {
    type: 'result',
    aborted: result.aborted,
    epochsCompleted: result.epochsCompleted,
    epochs: result.epochs,
    bestEpoch: result.best?.epoch ?? null,
    bestValidError: roundMetric(result.best?.validError ?? null),
    testError: roundMetric(result.testError),
    seconds: roundSeconds(result.seconds),
    totalSeconds: roundSeconds(result.totalSeconds),
    imagesPerSecond: roundRate(result.imagesPerSecond),
    dataShare: roundShare(result.dataShare),
    out: outDir,
    checkpoint: result.paths.checkpoint,
  };
}

/** The start lines of a fine-tuning run: where the weights came from, what is frozen, the groups' lr. */
export function fineTuneLines(opts: TrainCommandOptions, recipe: TrainRecipe, model: DenseNet): string[] {
  const lines: string[] = [];
  if (opts.initFrom !== undefined) lines.push(`initialized from ${displayPath(resolve(opts.initFrom))} (${model.numClasses}-class classifier)`);
  const trainable = model.trainableParameterCount;
  if (trainable < model.parameterCount || recipe.freeze.length > 0) {
    lines.push(
      `trainable ${formatInt(trainable)} of ${formatInt(model.parameterCount)} parameters` +
        (recipe.freeze.length > 0 ? `; frozen: ${recipe.freeze.join(', ')}` : '') +
        (recipe.unfreezeAt !== null ? ` (until epoch ${recipe.unfreezeAt})` : ''),
    );
  }
  for (const g of recipe.paramGroups) {
    lines.push(`group ${g.name} (${g.prefixes.join(', ')}): lr ${g.lr ?? recipe.lr}${g.weightDecay !== undefined ? `, wd ${g.weightDecay}` : ''}, scaled by the schedule`);
  }
  return lines;
}

/** The model line of the start output: kind (DenseNet, -B, -C, -BC), growth rate, blocks, stem. */
export function describeModel(c: ModelConfig): string {
  const kind = c.bottleneck ? (c.compression < 1 ? 'DenseNet-BC' : 'DenseNet-B') : c.compression < 1 ? 'DenseNet-C' : 'DenseNet';
  return `${kind} k=${c.growthRate} blocks ${c.blockConfig.join('-')}${c.smallInputs ? '' : ' (ImageNet stem)'}`;
}

/**
 * Progress output: on a terminal a one-line progress bar fitted to its width (see
 * {@link progressLine}) and the per-epoch table; when stdout is not a terminal only the table;
 * with `--json` only JSON lines.
 */
export class Reporter {
  readonly #json: boolean;
  readonly #tty: boolean;
  #bar: cliProgress.SingleBar | null = null;
  #state: ProgressState | null = null;

  readonly #quiet: boolean;

  /** @param quiet - print nothing (the ranks other than 0 of a data-parallel job) */
  constructor(json: boolean, quiet = false) {
    this.#json = json;
    this.#quiet = quiet;
    this.#tty = !json && !quiet && !!process.stdout.isTTY;
  }

  info(line: string): void {
    if (this.#json || this.#quiet) return;
    this.#stopBar();
    process.stdout.write(line + '\n');
  }

  warn(line: string): void {
    if (this.#quiet) return;
    this.#stopBar();
    process.stderr.write(`densenet train: ${line}\n`);
  }

  json(obj: unknown): void {
    if (this.#json && !this.#quiet) process.stdout.write(JSON.stringify(obj) + '\n');
  }

  batch(e: BatchEvent): void {
    this.#show({
      epoch: e.epoch,
      epochs: e.epochs,
      value: e.batch,
      total: e.batches,
      loss: e.epochLoss,
      error: e.epochError,
      imagesPerSecond: e.imagesPerSecond,
      etaSeconds: e.etaSeconds,
    });
  }

  evaluating(set: 'validation' | 'test', done: number, total: number): void {
    if (!this.#state) return;
    this.#show({ ...this.#state, evaluating: set, value: done, total });
  }

  #show(state: ProgressState): void {
    if (!this.#tty) return;
    this.#state = state;
    if (!this.#bar) {
      this.#bar = new cliProgress.SingleBar({
        // The whole line is ours: laid out for the terminal's width at every redraw (resizes too).
        format: () => (this.#state ? progressLine(this.#state, terminalColumns(process.stdout)) : ''),
        hideCursor: true,
        clearOnComplete: true,
        stopOnComplete: false,
        linewrap: false,
        stream: process.stdout,
        fps: 5,
      });
      this.#bar.start(state.total, state.value);
    } else {
      this.#bar.update(state.value);
    }
  }

  #stopBar(): void {
    if (this.#bar) {
      this.#bar.stop();
      this.#bar = null;
    }
  }

  close(): void {
    this.#stopBar();
  }
}
