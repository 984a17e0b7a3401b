/**
 * Memory over long runs, in its own process with `--expose-gc` (test/reliability.test.ts):
 * `node --expose-gc --import tsx test/helpers/rss-child.ts <predicts> <steps>` prints one JSON
 * line with the RSS (after a GC) at 20% and at 100% of the predicts and of the training steps.
 */
import { DenseNet } from '../../ts/index.js';
import { TINY, randn } from './util.js';

const [predicts = 2000, steps = 1000] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const rss = (): number => {
  gc();
  return process.memoryUsage().rss;
};

const model = DenseNet.create(TINY, { seed: 1 });
model.setThreads(1);
const shape = [8, 3, 16, 16] as const;
const x = randn(8 * 3 * 16 * 16, 3);
const labels = Int32Array.from({ length: 8 }, (_, i) => i % 10);
const out: Record<string, number> = {};
for (let i = 1; i <= predicts; i++) {
  await model.predict(x, shape);
  if (i === Math.round(predicts / 5)) out['predictEarly'] = rss();
}
out['predictEnd'] = rss();
model.setOptimizer({ lr: 0.01 });
for (let i = 1; i <= steps; i++) {
  await model.trainStep(x, shape, labels);
  if (i === Math.round(steps / 5)) out['trainEarly'] = rss();
}
out['trainEnd'] = rss();
process.stdout.write(JSON.stringify(out) + '\n');
