/**
 * A tiny training run in its own process, for the kill -9 / resume test (test/train-resume.test.ts).
 *
 *   node --import tsx test/helpers/train-child.ts <outDir> [--resume] [--slow-after EPOCH]
 *
 * Trains a DenseNet-BC (k=4, blocks 2-2-2, dropout 0.1) on 256 embedded MNIST digits (64 held out
 * for validation, 128 test digits), batch 32, 4 epochs, multistep lr, crop augmentation, 1 thread.
 * Prints one JSON line per event of interest (start, checkpoint, epoch, end). `--slow-after E`
 * sleeps 40 ms after every batch of the epochs after E (timing only: the numbers do not change),
 * so that a kill sent after epoch E's checkpoint lands in the middle of the next epoch.
 */
import { DenseNet, SubsetDataset, loadDataset } from '../../ts/index.js';
import { splitIndices } from '../../ts/data/split.js';
import { train } from '../../ts/train/index.js';
import { CHILD_CONFIG, CHILD_RECIPE } from './train-fixtures.js';

const [outDir, ...rest] = process.argv.slice(2);
if (!outDir) throw new Error('usage: train-child.ts <outDir> [--resume] [--slow-after E]');
const resume = rest.includes('--resume');
const slowIdx = rest.indexOf('--slow-after');
const slowAfter = slowIdx >= 0 ? Number(rest[slowIdx + 1]) : Infinity;

const full = await loadDataset('mnist');
const idx = splitIndices(full.length, 384, 'resume-test').validation;
const trainSet = new SubsetDataset(full, idx.subarray(0, 256), 'mnist-train');
const testSet = new SubsetDataset(full, idx.subarray(256), 'mnist-test');
const model = DenseNet.create(CHILD_CONFIG, { seed: 3 });
const say = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');
const result = await train(model, {
  ...CHILD_RECIPE,
  trainSet,
  testSet,
  outDir,
  resume,
  threads: 1,
  onEvent: async (e) => {
    if (e.type === 'start') say({ type: 'start', resumed: e.resumed, epoch: e.startEpoch, batch: e.startBatch });
    if (e.type === 'checkpoint') say({ type: 'checkpoint', epoch: e.epoch, batch: e.batch, reason: e.reason });
    if (e.type === 'epoch') say({ type: 'epoch', epoch: e.record.epoch });
    if (e.type === 'batch' && e.epoch > slowAfter) await new Promise((r) => setTimeout(r, 40));
  },
});
say({ type: 'end', aborted: result.aborted, epochs: result.epochsCompleted, step: model.step });
