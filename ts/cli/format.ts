/**
 * Text output of the `densenet` CLI that must fit a terminal: the training progress line (fitted
 * to the terminal's width, ETA always shown), the per-epoch table (at most 100 columns), durations
 * and counted nouns.
 *
 * @module
 */
import type { TrainJsonEpoch } from '../cli-types.js';

/**
 * The width the CLI lays its progress line out for: `$COLUMNS` when it is a positive integer
 * (as in most command-line tools, it overrides the terminal), else the terminal's width, else 80.
 *
 * @param stream - the output stream (default stdout)
 */
export function terminalColumns(stream: { columns?: number } = process.stdout): number {
  const env = process.env.COLUMNS;
  if (env !== undefined && /^\s*\d+\s*$/.test(env) && Number(env) > 0) return Number(env);
  const c = stream.columns;
  return typeof c === 'number' && c > 0 ? c : 80;
}

/**
 * `n noun` with the noun in the plural unless `n` is 1: `1 epoch`, `2 epochs`, `0 images`.
 *
 * @param n - the count
 * @param noun - the singular
 * @param pluralForm - the plural (default: noun + "s")
 */
export function plural(n: number, noun: string, pluralForm = `${noun}s`): string {
  return `${formatInt(n)} ${n === 1 ? noun : pluralForm}`;
}

/**
 * Formats an integer with thousands separators (`7,978,856`).
 *
 * @param n - the number
 */
export function formatInt(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * A duration: `0.4s`, `8.1s`, `42s`, `4m05s`, `1h02m03s`; `--` when unknown.
 *
 * @param seconds - the duration
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  if (seconds < 9.95) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(r).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

/**
 * A duration in at most 6 characters below 100 hours, for table columns: `8.1s`, `42s`, `4m05s`, `1h02m`, `99h59m`.
 *
 * @param seconds - the duration
 */
export function formatDurationShort(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  if (seconds < 3600) return formatDuration(seconds);
  const m = Math.round(seconds / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A fraction as a percentage with 2 decimals (`12.34%`), `-` for `null`. */
export const pct = (v: number | null): string => (v === null || !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(2)}%`);

/** What the progress line shows. */
export interface ProgressState {
  /** 1-based epoch. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** Batches done in this epoch (or images evaluated, while `evaluating`). */
  value: number;
  /** Batches per epoch (or images to evaluate). */
  total: number;
  /** Mean training loss of the epoch so far. */
  loss?: number;
  /** Training error of the epoch so far (fraction). */
  error?: number;
  /** Training images per second. */
  imagesPerSecond?: number;
  /** Seconds until the end of training. */
  etaSeconds: number;
  /** Set while the validation or test set is evaluated. */
  evaluating?: 'validation' | 'test';
}

const BAR_MIN = 8;
const BAR_MAX = 30;
const SEP = '  ';

function bar(width: number, fraction: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/**
 * The progress line for a terminal `columns` wide: at most `columns - 1` characters (writing the
 * last column makes some terminals wrap), the ETA always at the end. When the line does not fit,
 * the bar narrows (30 to 8 characters), then the fields go in this order: images/s, error, loss,
 * the bar, the word "epoch", the epoch; in the narrowest terminals only the ETA is left.
 *
 * @param p - what to show
 * @param columns - terminal width
 */
export function progressLine(p: ProgressState, columns: number): string {
  const width = Math.max(1, Math.floor(columns) - 1);
  const eta = `ETA ${formatDuration(p.etaSeconds)}`;
  const counter = p.evaluating
    ? `evaluating ${p.evaluating === 'validation' ? 'valid' : 'test'} ${formatInt(p.value)}/${formatInt(p.total)}`
    : `${p.value}/${p.total}`;
  const fields: string[] = [];
  if (!p.evaluating) {
    if (p.loss !== undefined && Number.isFinite(p.loss)) fields.push(`loss ${p.loss.toFixed(4)}`);
    if (p.error !== undefined && Number.isFinite(p.error)) fields.push(`err ${(p.error * 100).toFixed(2)}%`);
    if (p.imagesPerSecond !== undefined && Number.isFinite(p.imagesPerSecond)) fields.push(`${formatInt(p.imagesPerSecond)} img/s`);
  }
  const fraction = p.total > 0 ? p.value / p.total : 0;
  for (const head of [`epoch ${p.epoch}/${p.epochs}`, `${p.epoch}/${p.epochs}`]) {
    for (let keep = fields.length; keep >= 0; keep--) {
      const rest = [counter, ...fields.slice(0, keep), eta].join(SEP);
      const room = width - head.length - rest.length - 2 * SEP.length - 2;
      if (room >= BAR_MIN) return [head, bar(Math.min(BAR_MAX, room), fraction), rest].join(SEP);
    }
    for (let keep = fields.length; keep >= 0; keep--) {
      const line = [head, counter, ...fields.slice(0, keep), eta].join(SEP);
      if (line.length <= width) return line;
    }
  }
  for (const last of [`${p.epoch}/${p.epochs} ${eta}`, eta, formatDuration(p.etaSeconds)]) if (last.length <= width) return last;
  return formatDuration(p.etaSeconds).slice(0, width);
}

/**
 * The per-epoch values the table shows: those of a `train --json` epoch line, with the
 * training and evaluation time as one `seconds`.
 */
export type EpochRow = Pick<
  TrainJsonEpoch,
  'epoch' | 'epochs' | 'trainLoss' | 'trainError' | 'validLoss' | 'validError' | 'testError' | 'lr' | 'imagesPerSecond' | 'dataShare' | 'isBest'
> & {
  /** Seconds of training and evaluation. */
  seconds: number;
};

interface Column {
  header: string;
  width: number;
  /** Separator before the column. */
  sep: string;
  cell: (r: EpochRow) => string;
}

/** A learning rate in at most 7 characters: `0.1`, `0.00995`, `9.95e-4`. */
export function formatLr(lr: number): string {
  if (!Number.isFinite(lr)) return String(lr);
  if (lr !== 0 && Math.abs(lr) < 1e-3) return lr.toExponential(2).replace(/\.?0+e/, 'e').replace('e-', 'e-');
  return String(Number(lr.toPrecision(3)));
}

/** A share in [0, 1] as a percentage in at most 5 characters: `0.3%`, `12.5%`, `100%`. */
function formatShare(v: number): string {
  const p = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * 100;
  return p >= 99.95 ? '100%' : `${p.toFixed(1)}%`;
}

const num = (v: number | null, digits = 4): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function epochColumns(epochs: number): Column[] {
  const digits = String(epochs).length;
  // "12/300" while it fits; from 1,000 epochs on, only the epoch (the total is in the header lines).
  const withTotal = digits <= 3;
  return [
    { header: 'epoch', width: Math.max(5, withTotal ? 2 * digits + 1 : digits), sep: '', cell: (r) => (withTotal ? `${r.epoch}/${r.epochs}` : String(r.epoch)) },
    { header: 'train loss', width: 10, sep: '  ', cell: (r) => num(r.trainLoss) },
    { header: 'train err', width: 9, sep: '  ', cell: (r) => pct(r.trainError) },
    { header: 'valid loss', width: 10, sep: '  ', cell: (r) => num(r.validLoss) },
    { header: 'valid err', width: 9, sep: '  ', cell: (r) => pct(r.validError) },
    { header: 'test err', width: 8, sep: '  ', cell: (r) => pct(r.testError) },
    { header: 'lr', width: 7, sep: '  ', cell: (r) => formatLr(r.lr) },
    { header: 'time', width: 6, sep: '  ', cell: (r) => formatDurationShort(r.seconds) },
    { header: 'img/s', width: 7, sep: '  ', cell: (r) => formatInt(r.imagesPerSecond) },
    { header: 'data', width: 5, sep: '  ', cell: (r) => formatShare(r.dataShare) },
  ];
}

/**
 * The header of the per-epoch table (right-aligned like the values).
 *
 * @param epochs - total epochs (sets the width of the first column)
 */
export function epochTableHeader(epochs: number): string {
  return epochColumns(epochs)
    .map((c) => c.sep + c.header.padStart(c.width))
    .join('');
}

/**
 * One row of the per-epoch table: at most 100 characters (for up to 999 epochs, losses below
 * 1,000, epochs shorter than 100 hours and up to 999,999 images/s), with `*` marking a new best
 * epoch on validation.
 *
 * @param r - the epoch's values
 */
export function formatEpochRow(r: EpochRow): string {
  return (
    epochColumns(r.epochs)
      .map((c) => c.sep + c.cell(r).padStart(c.width))
      .join('') + (r.isBest ? '  *' : '')
  );
}
