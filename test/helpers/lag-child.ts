/**
 * Event-loop lag during a training run, in its own process (test/reliability.test.ts).
 *
 *   node --import tsx test/helpers/lag-child.ts <outDir>
 *
 * Trains the tiny child model (test/helpers/train-fixtures.ts) on 2,048 embedded MNIST digits for
 * 3 epochs on 2 threads, with validation, test evaluation, a checkpoint and results.csv every
 * epoch. A 5 ms timer measures how late the event loop runs it, from the `start` event to the
 * end; prints one JSON line: the largest delay, the 99th percentile and the training event that
 * came last before the worst one.
 */
import { DenseNet, SubsetDataset, loadDataset } from '../../ts/index.js';
import { splitIndices } from '../../ts/data/split.js';
import { train } from '../../ts/train/index.js';
import { CHILD_CONFIG, CHILD_RECIPE } from './train-fixtures.js';

const [outDir] = process.argv.slice(2);
if (!outDir) throw new Error('usage: lag-child.ts <outDir>');
const full = await loadDataset('mnist');
const idx = splitIndices(full.length, 2176, 'lag-test').validation;
const trainSet = new SubsetDataset(full, idx.subarray(0, 2048), 'mnist-train');
const testSet = new SubsetDataset(full, idx.subarray(2048), 'mnist-test');
const model = DenseNet.create(CHILD_CONFIG, { seed: 3 });

const TICK_MS = 5;
const delays: number[] = [];
let worst = { ms: 0, after: '' };
let lastEvent = '';
let timer: NodeJS.Timeout | undefined;
let last = 0;
const tick = (): void => {
  const now = performance.now();
  const late = now - last - TICK_MS;
  delays.push(late);
  if (late > worst.ms) worst = { ms: late, after: lastEvent };
  last = now;
};
await train(model, {
  ...CHILD_RECIPE,
  epochs: 3,
  trainSet,
  testSet,
  outDir,
  threads: 2,
  onEvent: (e) => {
    lastEvent = e.type === 'batch' ? `batch ${e.epoch}.${e.batch}` : e.type;
    if (e.type === 'start') {
      last = performance.now();
      timer = setInterval(tick, TICK_MS);
    }
  },
});
clearInterval(timer);
await model.dispose();
delays.sort((a, b) => a - b);
const p99 = delays[Math.floor(0.99 * (delays.length - 1))] ?? 0;
process.stdout.write(JSON.stringify({ ticks: delays.length, maxMs: Math.round(worst.ms), p99Ms: Math.round(p99), worstAfter: worst.after }) + '\n');
