#!/usr/bin/env node
// Renders benches/scaling.mjs's JSON as one figure (SVG, converted to PNG with sharp, as the
// SDK's training plots): the memory of one training step (peak RSS − RSS before it) against depth (CIFAR BC at 32², and
// ImageNet DenseNets at 224²), and training images/s and peak memory against batch size; ours
// (efficient, naive) beside PyTorch (memory_efficient False, True).
//
//   npm run bench:plot -- [--in benches/results/scaling.json] [--png docs/scaling.png] [--svg path]

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, parseFlags } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), { in: 'benches/results/scaling.json', png: 'docs/scaling.png', svg: '' });
const result = JSON.parse(readFileSync(path.resolve(ROOT, f.in), 'utf8'));

const STYLE = {
  'ours-efficient': { label: 'ours, efficient', color: '#d62728', dash: '' },
  'ours-naive': { label: 'ours, naive', color: '#d62728', dash: '6,4' },
  torch: { label: 'PyTorch, memory_efficient=False', color: '#1f77b4', dash: '6,4' },
  'torch-me': { label: 'PyTorch, memory_efficient=True', color: '#1f77b4', dash: '' },
};
const ids = result.settings.contenders;
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  const step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  if (out[out.length - 1] < hi) out.push(+(out[out.length - 1] + step).toPrecision(12));
  return out;
}

/** One panel: series of [x, y] points, linear y from 0, x linear or log2. */
function panel({ x0, y0, w, h, title, xlabel, ylabel, series, log2x = false, xticks }) {
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) return `<text x="${x0 + w / 2}" y="${y0 + h / 2}" text-anchor="middle" font-size="13">${esc(title)}: no data</text>`;
  const tx = (v) => (log2x ? Math.log2(v) : v);
  let xmin = Math.min(...pts.map((p) => tx(p[0])));
  let xmax = Math.max(...pts.map((p) => tx(p[0])));
  if (xmax === xmin) { xmin -= 1; xmax += 1; }
  const yt = ticks(0, Math.max(...pts.map((p) => p[1])) * 1.05);
  const ymax = yt[yt.length - 1];
  const L = 70, R = 15, T = 30, B = 45;
  const px = (v) => x0 + L + ((tx(v) - xmin) / (xmax - xmin)) * (w - L - R);
  const py = (v) => y0 + h - B - (v / ymax) * (h - T - B);
  const parts = [`<text x="${x0 + w / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`];
  parts.push(`<rect x="${x0 + L}" y="${y0 + T}" width="${w - L - R}" height="${h - T - B}" fill="none" stroke="#444"/>`);
  for (const v of yt) {
    parts.push(`<line x1="${x0 + L}" x2="${x0 + w - R}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${x0 + L - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${v}</text>`);
  }
  const xt = xticks ?? [...new Set(pts.map((p) => p[0]))].sort((a, b) => a - b);
  for (const v of xt) {
    parts.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${y0 + h - B}" y2="${y0 + h - B + 4}" stroke="#444"/>`);
    parts.push(`<text x="${px(v)}" y="${y0 + h - B + 17}" text-anchor="middle" font-size="11">${v}</text>`);
  }
  parts.push(`<text x="${x0 + L + (w - L - R) / 2}" y="${y0 + h - 8}" text-anchor="middle" font-size="12">${esc(xlabel)}</text>`);
  parts.push(`<text transform="translate(${x0 + 16},${y0 + T + (h - T - B) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(ylabel)}</text>`);
  for (const s of series) {
    if (!s.points.length) continue;
    const p = [...s.points].sort((a, b) => a[0] - b[0]);
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''} points="${p.map((q) => `${px(q[0]).toFixed(1)},${py(q[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const q of p) parts.push(`<circle cx="${px(q[0]).toFixed(1)}" cy="${py(q[1]).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
  }
  return parts.join('\n');
}

const depthOf = (preset) => Number(/(\d+)$/.exec(preset)?.[1] ?? NaN);
const mibOf = (kb) => kb / 1024;
const depthSeries = (filter) => ids.map((id) => ({
  ...STYLE[id],
  points: result.depth.filter(filter).filter((d) => d.runs[id] && !d.runs[id].error).map((d) => [depthOf(d.preset), mibOf(d.runs[id].step_delta_kb)]),
}));
const isCifar = (d) => d.preset.startsWith('densenet-bc-') || d.preset.startsWith('densenet-') && /^densenet-\d/.test(d.preset);
const cifar = result.depth.filter(isCifar);
const imagenet = result.depth.filter((d) => !isCifar(d));
const batchSeries = (key) => ids.map((id) => ({
  ...STYLE[id],
  points: result.batch.filter((b) => b.runs[id] && !b.runs[id].error).map((b) => [b.batch, key(b.runs[id])]),
}));

const W = 1400, H = 900, PW = 700, PH = 400;
const m = result.machine;
const body = [
  panel({ x0: 0, y0: 40, w: PW, h: PH, title: `Memory vs depth: DenseNet-BC, ${cifar[0]?.size ?? ''}², batch ${cifar[0]?.batch ?? ''}`, xlabel: 'depth (layers)', ylabel: 'one training step: peak RSS − RSS before (MiB)', series: depthSeries(isCifar) }),
  panel({ x0: PW, y0: 40, w: PW, h: PH, title: `Memory vs depth: ImageNet DenseNets, ${imagenet[0]?.size ?? ''}², batch ${imagenet[0]?.batch ?? ''}`, xlabel: 'depth (layers)', ylabel: 'one training step: peak RSS − RSS before (MiB)', series: depthSeries((d) => !isCifar(d)) }),
  panel({ x0: 0, y0: 40 + PH, w: PW, h: PH, title: `Training speed vs batch: ${result.settings.batch_preset}`, xlabel: 'batch size (log scale)', ylabel: 'images/s', series: batchSeries((r) => r.images_per_s), log2x: true }),
  panel({ x0: PW, y0: 40 + PH, w: PW, h: PH, title: `Peak memory vs batch: ${result.settings.batch_preset}`, xlabel: 'batch size (log scale)', ylabel: 'peak RSS of the process (MiB)', series: batchSeries((r) => mibOf(r.peak_rss_kb)), log2x: true }),
];
const legend = ids.map((id, i) => {
  const s = STYLE[id];
  const x = 80 + i * 320;
  return `<line x1="${x}" x2="${x + 40}" y1="${H - 30}" y2="${H - 30}" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''}/><text x="${x + 48}" y="${H - 26}" font-size="13">${esc(s.label)}</text>`;
}).join('\n');
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">densenet-sdk vs PyTorch, f32 training, ${esc(m.cpu)} (${result.settings.threads} threads), commit ${esc(m.git)}, ${esc(m.date.slice(0, 16))}Z, load ${m.loadavg[0]}–${(m.loadavg_end || m.loadavg)[0]}</text>
${body.join('\n')}
${legend}
</svg>
`;

if (f.svg) writeFileSync(path.resolve(ROOT, f.svg), svg);
const { default: sharp } = await import('sharp');
const png = path.resolve(ROOT, f.png);
mkdirSync(path.dirname(png), { recursive: true });
await sharp(Buffer.from(svg)).png().toFile(png);
process.stderr.write(`wrote ${path.relative(ROOT, png)}\n`);
