/** Evaluation helpers (top-k, 10-crop geometry) and the results plot (SVG content, PNG output). */
import test from 'ava';
import sharp from 'sharp';

import { DenseNet, SubsetDataset, loadDataset } from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import { countTopK, evaluate, plotResults, renderResultsSvg, writeTenCrops, type EpochRecord } from '../ts/train/index.js';
import { CHILD_CONFIG } from './helpers/train-fixtures.js';

test('countTopK counts labels among the k largest logits', (t) => {
  const logits = Float32Array.from([0.1, 0.9, 0.5, /**/ 0.3, 0.2, 0.1, /**/ 0.2, 0.3, 0.1]);
  const labels = Int32Array.from([1, 2, 0]);
  t.is(countTopK(logits, labels, 3, 1), 1);
  t.is(countTopK(logits, labels, 3, 2), 2);
  t.is(countTopK(logits, labels, 3, 3), 3);
});

test('writeTenCrops: four corners, the center, then their mirror images', (t) => {
  // A 1-channel 4x3 image (width 4, height 3) with pixel value = 10*y + x; crops of 2x2.
  const W = 4;
  const H = 3;
  const px = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px[y * W + x] = 10 * y + x;
  const lut = new Float32Array(256).map((_, v) => v);
  const out = new Float32Array(10 * 4);
  writeTenCrops(px, W, H, 1, 2, 2, 1, lut, out, 0);
  const crops = Array.from({ length: 10 }, (_, k) => Array.from(out.subarray(4 * k, 4 * k + 4)));
  t.deepEqual(crops[0], [0, 1, 10, 11]); // top-left
  t.deepEqual(crops[1], [2, 3, 12, 13]); // top-right
  t.deepEqual(crops[2], [10, 11, 20, 21]); // bottom-left
  t.deepEqual(crops[3], [12, 13, 22, 23]); // bottom-right
  t.deepEqual(crops[4], [1, 2, 11, 12]); // center (floor)
  t.deepEqual(crops[5], [1, 0, 11, 10]); // mirrored top-left
  t.deepEqual(crops[9], [2, 1, 12, 11]); // mirrored center
});

test('evaluate: top-1 error matches evalStep counts, top-5 <= top-1, an aborted signal rejects', async (t) => {
  const full = await loadDataset('mnist');
  const ds = new SubsetDataset(full, splitIndices(full.length, 100, 'eval-test').validation);
  const model = DenseNet.create(CHILD_CONFIG, { seed: 1 });
  const r = await evaluate(model, ds, { batchSize: 32, normalization: 'mnist' });
  t.is(r.images, 100);
  t.is(r.crops, 1);
  t.is(r.top1Error, 1 - r.correct / 100);
  t.true(r.top5Error <= r.top1Error);
  t.true(r.correctTop5 >= r.correct);
  t.true(Number.isFinite(r.loss) && r.loss > 0);
  await t.throwsAsync(evaluate(model, ds, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

const RECORDS: EpochRecord[] = Array.from({ length: 12 }, (_, i) => ({
  epoch: i + 1,
  trainLoss: 2 / (i + 1),
  trainError: 0.6 / (i + 1),
  validLoss: 2.2 / (i + 1) + 0.05,
  validError: 0.65 / (i + 1) + 0.01,
  testError: 0.66 / (i + 1) + 0.012,
}));

test('renderResultsSvg draws two panels with axes, labels, legend and one path per curve', (t) => {
  const svg = renderResultsSvg(RECORDS, { title: 'BC-100 on C10+' });
  t.true(svg.startsWith('<svg'));
  for (const text of ['BC-100 on C10+', 'Loss', 'Error', 'epoch', 'cross-entropy loss', 'top-1 error (%)', '>train<', '>valid<', '>test<']) {
    t.true(svg.includes(text), text);
  }
  t.is((svg.match(/<path /g) ?? []).length, 5); // loss: train, valid; error: train, valid, test
  t.throws(() => renderResultsSvg([]), { message: /no epochs/ });
});

test('plotResults renders a PNG with the curves in their colors', async (t) => {
  const png = await plotResults(RECORDS, { width: 900, height: 400 });
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  t.is(info.width, 900);
  t.is(info.height, 400);
  // Pixels close to the train (blue #1f77b4), valid (orange #ff7f0e) and test (green #2ca02c) colors are present.
  const near = (r: number, g: number, b: number): number => {
    let n = 0;
    for (let i = 0; i < data.length; i += 3) {
      if (Math.abs(data[i]! - r) + Math.abs(data[i + 1]! - g) + Math.abs(data[i + 2]! - b) < 40) n++;
    }
    return n;
  };
  t.true(near(0x1f, 0x77, 0xb4) > 200, 'train curve');
  t.true(near(0xff, 0x7f, 0x0e) > 200, 'valid curve');
  t.true(near(0x2c, 0xa0, 0x2c) > 100, 'test curve');
});

/** The y coordinates of the legend's sample lines and of every drawn data point (markers, not the legend's r=3 ones, and path vertices). */
function layout(svg: string): { legendY: number[]; dataY: number[]; dataX: number[] } {
  const legendY = [...svg.matchAll(/<line x1="[\d.]+" y1="([\d.]+)" x2="[\d.]+" y2="\1" stroke="#(?:1f77b4|ff7f0e|2ca02c)" stroke-width="2\.5"/g)].map((m) => Number(m[1]));
  const dataY: number[] = [];
  const dataX: number[] = [];
  for (const m of svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="(?!3")/g)) {
    dataX.push(Number(m[1]));
    dataY.push(Number(m[2]));
  }
  for (const m of svg.matchAll(/<path d="([^"]+)"/g)) {
    for (const p of m[1]!.matchAll(/[ML]([\d.]+),([\d.]+)/g)) {
      dataX.push(Number(p[1]));
      dataY.push(Number(p[2]));
    }
  }
  return { legendY, dataY, dataX };
}

test('one legend for both panels, in its own row above every curve, at any size', (t) => {
  for (const [width, height] of [[1200, 480], [600, 300], [300, 200]] as const) {
    const svg = renderResultsSvg(RECORDS, { width, height });
    const { legendY, dataY } = layout(svg);
    t.is(legendY.length, 3, `${width}x${height}: train, valid, test once each`);
    t.true(Math.max(...legendY) + 10 < Math.min(...dataY), `${width}x${height}: the legend is above the highest point`);
    t.is((svg.match(/>train</g) ?? []).length, 1);
  }
  // Small panels use the short axis labels.
  const small = renderResultsSvg(RECORDS, { width: 300, height: 200 });
  t.true(small.includes('>loss<') && small.includes('>error (%)<'));
  t.true(renderResultsSvg(RECORDS).includes('>cross-entropy loss<'));
});

test('a one-epoch run: one marker per series over a centered epoch 1, no line, the legend shows markers', async (t) => {
  const one = RECORDS.slice(0, 1);
  const svg = renderResultsSvg(one);
  t.is((svg.match(/<path /g) ?? []).length, 0, 'a single point makes no line');
  const markers = [...svg.matchAll(/<circle cx="([\d.]+)" cy="[\d.]+" r="5"/g)].map((m) => Number(m[1]));
  t.is(markers.length, 5, 'loss: train, valid; error: train, valid, test');
  // Centered: each panel's markers sit in the middle of its plot area (panels at x 0..600 and 600..1200).
  for (const x of markers) t.true(Math.abs((x % 600) - (64 + (600 - 64 - 14) / 2)) < 1, `marker at x=${x}`);
  // The x axis has the single tick "1".
  t.is((svg.match(/text-anchor="middle" font-size="12">1</g) ?? []).length, 2);
  t.notRegex(svg, /text-anchor="middle" font-size="12">2</);
  const { legendY, dataY } = layout(svg);
  t.true(Math.max(...legendY) + 10 < Math.min(...dataY));
  t.is((svg.match(/<circle cx="[\d.]+" cy="[\d.]+" r="3"/g) ?? []).length, 3, 'legend markers');
  const png = await plotResults(one, { width: 400, height: 250 });
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let green = 0;
  for (let i = 0; i < data.length; i += 3) if (Math.abs(data[i]! - 0x2c) + Math.abs(data[i + 1]! - 0xa0) + Math.abs(data[i + 2]! - 0x2c) < 40) green++;
  t.true(green > 30, 'the test marker is drawn');
});
