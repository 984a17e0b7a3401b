/**
 * Training curves: renders `results.csv` as an SVG (loss and error panels, axes, labels, legend)
 * and converts it to PNG with sharp.
 *
 * @module
 */

import { ImageError, InvalidArgumentError, IoError } from '../errors.js';
import { loadSharp, type Sharp } from '../internal/sharp.js';
import { readResultsCsv, writeFileAtomic, type EpochRecord } from './io.js';

/**
 * Options of {@link renderResultsSvg} and {@link plotResults}.
 *
 * @category Training
 */
export interface PlotOptions {
  /** Image width in pixels (default 1200). */
  width?: number;
  /** Image height in pixels (default 480). */
  height?: number;
  /** Title above the panels (default "Training curves"). */
  title?: string;
}

interface Series {
  label: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

const COLORS = { train: '#1f77b4', valid: '#ff7f0e', test: '#2ca02c' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick values covering [lo, hi] with about `count` steps. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const start = Math.ceil(lo / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return Number(v.toFixed(2)).toString();
  return Number(v.toPrecision(3)).toString();
}

function panel(x: number, y: number, w: number, h: number, title: string, yLabel: string, series: Series[], maxEpoch: number): string {
  const padL = 64;
  const padR = 16;
  const padT = 30;
  const padB = 46;
  const px = x + padL;
  const py = y + padT;
  const pw = w - padL - padR;
  const ph = h - padT - padB;
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let yMax = ys.length ? Math.max(...ys) : 1;
  if (!(yMax > 0)) yMax = 1;
  const yTicks = niceTicks(0, yMax * 1.05, 5);
  const yTop = Math.max(yTicks[yTicks.length - 1]!, yMax);
  const xMin = 1;
  const xMax = Math.max(2, maxEpoch);
  const xTicks = niceTicks(xMin, xMax, Math.min(8, xMax - xMin)).filter((t) => Number.isInteger(t) && t >= xMin);
  const sx = (e: number): number => px + ((e - xMin) / (xMax - xMin)) * pw;
  const sy = (v: number): number => py + ph - (v / yTop) * ph;
  const out: string[] = [];
  out.push(`<text x="${px + pw / 2}" y="${y + 20}" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);
  // grid + y ticks
  for (const t of yTicks) {
    const yy = sy(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${yy}" x2="${px + pw}" y2="${yy}" stroke="#e5e5e5" stroke-width="1"/>`);
    out.push(`<text x="${px - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" font-size="12">${fmtTick(t)}</text>`);
  }
  for (const t of xTicks) {
    const xx = sx(t).toFixed(1);
    out.push(`<line x1="${xx}" y1="${py}" x2="${xx}" y2="${py + ph}" stroke="#f0f0f0" stroke-width="1"/>`);
    out.push(`<line x1="${xx}" y1="${py + ph}" x2="${xx}" y2="${py + ph + 5}" stroke="#333" stroke-width="1"/>`);
    out.push(`<text x="${xx}" y="${py + ph + 18}" text-anchor="middle" font-size="12">${t}</text>`);
  }
  // axes
  out.push(`<line x1="${px}" y1="${py}" x2="${px}" y2="${py + ph}" stroke="#333" stroke-width="1.5"/>`);
  out.push(`<line x1="${px}" y1="${py + ph}" x2="${px + pw}" y2="${py + ph}" stroke="#333" stroke-width="1.5"/>`);
  out.push(`<text x="${px + pw / 2}" y="${py + ph + 38}" text-anchor="middle" font-size="13">epoch</text>`);
  out.push(
    `<text x="${x + 16}" y="${py + ph / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 ${x + 16} ${py + ph / 2})">${esc(yLabel)}</text>`,
  );
  // curves
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    if (s.points.length <= 60) {
      for (const p of s.points) out.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    }
  }
  // legend (top right, inside the plot)
  const shown = series.filter((s) => s.points.length > 0);
  const lw = 120;
  const lh = 8 + 20 * shown.length;
  const lx = px + pw - lw - 8;
  const ly = py + 8;
  if (shown.length) {
    out.push(`<rect x="${lx}" y="${ly}" width="${lw}" height="${lh}" fill="white" fill-opacity="0.85" stroke="#999" stroke-width="1"/>`);
    shown.forEach((s, i) => {
      const yy = ly + 14 + 20 * i;
      out.push(`<line x1="${lx + 8}" y1="${yy}" x2="${lx + 36}" y2="${yy}" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
      out.push(`<text x="${lx + 44}" y="${yy}" dominant-baseline="middle" font-size="12">${esc(s.label)}</text>`);
    });
  }
  return out.join('\n');
}

/**
 * Renders training curves as an SVG document: left panel loss (train, valid), right panel top-1
 * error in percent (train, valid, test), epochs on the x axis.
 *
 * @param records - rows of `results.csv`
 * @param options - size and title
 * @throws {@link InvalidArgumentError} when there are no rows
 *
 * @category Training
 */
export function renderResultsSvg(records: readonly EpochRecord[], options: PlotOptions = {}): string {
  if (records.length === 0) throw new InvalidArgumentError('results.csv has no epochs to plot yet');
  const width = options.width ?? 1200;
  const height = options.height ?? 480;
  if (!Number.isSafeInteger(width) || width < 300 || !Number.isSafeInteger(height) || height < 200) {
    throw new InvalidArgumentError(`plot size must be at least 300x200, got ${width}x${height}`);
  }
  const title = options.title ?? 'Training curves';
  const pick = (f: (r: EpochRecord) => number | null, scale = 1): [number, number][] =>
    records.filter((r) => f(r) !== null && Number.isFinite(f(r))).map((r) => [r.epoch, f(r)! * scale]);
  const loss: Series[] = [
    { label: 'train', color: COLORS.train, points: pick((r) => r.trainLoss) },
    { label: 'valid', color: COLORS.valid, points: pick((r) => r.validLoss) },
  ];
  const error: Series[] = [
    { label: 'train', color: COLORS.train, points: pick((r) => r.trainError, 100) },
    { label: 'valid', color: COLORS.valid, points: pick((r) => r.validError, 100) },
    { label: 'test', color: COLORS.test, dash: '6 3', points: pick((r) => r.testError, 100) },
  ];
  const maxEpoch = Math.max(...records.map((r) => r.epoch));
  const top = 40;
  const half = Math.floor(width / 2);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" fill="#222">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="18" font-weight="bold">${esc(title)}</text>`,
    panel(0, top, half, height - top, 'Loss', 'cross-entropy loss', loss, maxEpoch),
    panel(half, top, width - half, height - top, 'Error', 'top-1 error (%)', error, maxEpoch),
    '</svg>',
  ].join('\n');
}

/**
 * Renders training curves to PNG bytes (the SVG of {@link renderResultsSvg}, rasterized by sharp).
 *
 * @param records - rows of `results.csv`
 * @param options - size and title
 *
 * @category Training
 */
export async function plotResults(records: readonly EpochRecord[], options: PlotOptions = {}): Promise<Buffer> {
  const svg = renderResultsSvg(records, options);
  let sharp: Sharp;
  try {
    sharp = await loadSharp();
  } catch (err) {
    throw new ImageError(`the image library (sharp) could not be loaded: ${(err as Error).message}`, { cause: err });
  }
  return sharp(Buffer.from(svg), { density: 72 }).png().toBuffer();
}

/**
 * Reads a `results.csv` and writes its curves as a PNG (or an SVG when `out` ends in `.svg`), atomically.
 *
 * @param csvPath - the `results.csv`
 * @param out - output file
 * @param options - size and title
 * @returns the number of epochs plotted
 *
 * @category Training
 */
export async function writeResultsPlot(csvPath: string, out: string, options: PlotOptions = {}): Promise<number> {
  const records = readResultsCsv(csvPath);
  if (out.toLowerCase().endsWith('.svg')) {
    writeFileAtomic(out, renderResultsSvg(records, options));
  } else {
    let png: Buffer;
    try {
      png = await plotResults(records, options);
    } catch (err) {
      if (err instanceof InvalidArgumentError || err instanceof ImageError) throw err;
      throw new IoError(`cannot render the plot: ${(err as Error).message}`, { cause: err });
    }
    writeFileAtomic(out, png);
  }
  return records.length;
}
