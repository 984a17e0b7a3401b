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
  /** Show a marker in the legend (single-epoch plots draw markers only). */
  marker?: boolean;
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

/** Approximate width of a label in pixels (DejaVu Sans / Arial at `size` px). */
const textWidth = (text: string, size: number): number => text.length * size * 0.6;

/** The x axis: the epochs shown and their ticks (one epoch: centered, with room on both sides). */
interface XAxis {
  lo: number;
  hi: number;
  ticks: number[];
}

function xAxis(minEpoch: number, maxEpoch: number, plotWidth: number): XAxis {
  if (maxEpoch <= minEpoch) return { lo: minEpoch - 0.5, hi: minEpoch + 0.5, ticks: [minEpoch] };
  // About one tick per 60 pixels, at most 8, integers only.
  const count = Math.max(1, Math.min(8, maxEpoch - minEpoch, Math.floor(plotWidth / 60)));
  const ticks = niceTicks(minEpoch, maxEpoch, count).filter((t) => Number.isInteger(t) && t >= minEpoch && t <= maxEpoch);
  return { lo: minEpoch, hi: maxEpoch, ticks };
}

function panel(x: number, y: number, w: number, h: number, title: string, yLabel: [string, string], series: Series[], epochs: [number, number]): string {
  const padL = w < 260 ? 52 : 64;
  const padR = 14;
  const padT = 28;
  const padB = 44;
  const px = x + padL;
  const py = y + padT;
  const pw = Math.max(10, w - padL - padR);
  const ph = Math.max(10, h - padT - padB);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let yMax = ys.length ? Math.max(...ys) : 1;
  if (!(yMax > 0)) yMax = 1;
  // Ticks up to at least 5% above the highest point, so that no point sits on the frame.
  const rough = niceTicks(0, yMax * 1.05, ph < 140 ? 3 : 5);
  const step = rough.length > 1 ? rough[1]! - rough[0]! : yMax;
  const yTop = Number((Math.ceil((yMax * 1.05) / step - 1e-9) * step).toPrecision(12));
  const yTicks = niceTicks(0, yTop, Math.round(yTop / step)).filter((t) => t <= yTop + step * 1e-9);
  const ax = xAxis(epochs[0], epochs[1], pw);
  const sx = (e: number): number => px + ((e - ax.lo) / (ax.hi - ax.lo)) * pw;
  const sy = (v: number): number => py + ph - (v / yTop) * ph;
  const out: string[] = [];
  out.push(`<text x="${px + pw / 2}" y="${y + 18}" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  // grid + y ticks
  for (const t of yTicks) {
    const yy = sy(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${yy}" x2="${px + pw}" y2="${yy}" stroke="#e5e5e5" stroke-width="1"/>`);
    out.push(`<text x="${px - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" font-size="12">${fmtTick(t)}</text>`);
  }
  for (const t of ax.ticks) {
    const xx = sx(t).toFixed(1);
    out.push(`<line x1="${xx}" y1="${py}" x2="${xx}" y2="${py + ph}" stroke="#f0f0f0" stroke-width="1"/>`);
    out.push(`<line x1="${xx}" y1="${py + ph}" x2="${xx}" y2="${py + ph + 5}" stroke="#333" stroke-width="1"/>`);
    out.push(`<text x="${xx}" y="${py + ph + 18}" text-anchor="middle" font-size="12">${t}</text>`);
  }
  // axes
  out.push(`<line x1="${px}" y1="${py}" x2="${px}" y2="${py + ph}" stroke="#333" stroke-width="1.5"/>`);
  out.push(`<line x1="${px}" y1="${py + ph}" x2="${px + pw}" y2="${py + ph}" stroke="#333" stroke-width="1.5"/>`);
  out.push(`<text x="${px + pw / 2}" y="${py + ph + 36}" text-anchor="middle" font-size="13">epoch</text>`);
  // The axis label along the plot's height: the short form when the long one would not fit.
  const label = textWidth(yLabel[0], 13) <= ph ? yLabel[0] : yLabel[1];
  out.push(
    `<text x="${x + 14}" y="${py + ph / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 ${x + 14} ${py + ph / 2})">${esc(label)}</text>`,
  );
  // curves; points are marked while there are few (a single point: a bigger marker)
  for (const s of series) {
    if (s.points.length === 0) continue;
    if (s.points.length > 1) {
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    }
    const r = s.points.length === 1 ? 5 : 2.5;
    if (s.points.length <= 60) {
      for (const p of s.points) out.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="${r}" fill="${s.color}"/>`);
    }
  }
  return out.join('\n');
}

/**
 * One legend for the whole figure, in a row of its own between the title and the panels (never
 * over a curve): a sample of each series' line and its label, centered.
 */
function legend(series: Series[], width: number, y: number): string {
  const size = 12;
  const sample = 24;
  const gap = 6;
  const space = 18;
  const items = series.map((s) => ({ s, w: sample + gap + textWidth(s.label, size) }));
  const total = items.reduce((a, i) => a + i.w, 0) + space * Math.max(0, items.length - 1);
  let x = Math.max(4, (width - total) / 2);
  const out: string[] = [];
  for (const { s, w } of items) {
    out.push(`<line x1="${x.toFixed(1)}" y1="${y}" x2="${(x + sample).toFixed(1)}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    if (s.marker) out.push(`<circle cx="${(x + sample / 2).toFixed(1)}" cy="${y}" r="3" fill="${s.color}"/>`);
    out.push(`<text x="${(x + sample + gap).toFixed(1)}" y="${y}" dominant-baseline="middle" font-size="${size}">${esc(s.label)}</text>`);
    x += w + space;
  }
  return out.join('\n');
}

/**
 * Renders training curves as an SVG document: left panel loss (train, valid), right panel top-1
 * error in percent (train, valid, test), epochs on the x axis, one legend for both panels in its
 * own row under the title (so that it never covers a curve, whatever the size). A run of one
 * epoch is drawn as one marker per series over a centered epoch 1.
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
  const epochNumbers = records.map((r) => r.epoch);
  const epochs: [number, number] = [Math.min(...epochNumbers), Math.max(...epochNumbers)];
  const single = epochs[0] === epochs[1];
  // The legend lists each series drawn in either panel once (same label, same style).
  const shown = new Map<string, Series>();
  for (const s of [...error, ...loss]) if (s.points.length > 0 && !shown.has(s.label)) shown.set(s.label, { ...s, marker: single });
  const order = ['train', 'valid', 'test'].flatMap((l) => (shown.has(l) ? [shown.get(l)!] : []));
  const titleSize = width < 500 ? 15 : 18;
  const legendY = 48;
  const top = 60;
  const half = Math.floor(width / 2);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" fill="#222">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="${titleSize}" font-weight="bold">${esc(title)}</text>`,
    legend(order, width, legendY),
    panel(0, top, half, height - top, 'Loss', ['cross-entropy loss', 'loss'], loss, epochs),
    panel(half, top, width - half, height - top, 'Error', ['top-1 error (%)', 'error (%)'], error, epochs),
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
