// A checkpoint load that fails changes nothing: every piece (weights, optimizer state, optimizer
// settings, step, seed, config, the caller's JSON state) is parsed and validated before anything
// is replaced. Each piece of metadata is broken in turn in a real checkpoint; after the failed
// load the model's logits, step and optimizer settings are those from before.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { DenseNet, WeightsError } from '../ts/index.js';
import { TINY, tempDir } from './helpers/util.js';

/** Rewrites a safetensors file's header (JSON after an 8-byte little-endian length) with `edit`. */
function editHeader(src: string, dst: string, edit: (header: Record<string, any>) => void): void {
  const bytes = readFileSync(src);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  edit(header);
  let text = JSON.stringify(header);
  // Keep the data offsets' alignment: pad the header with spaces to a multiple of 8.
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  writeFileSync(dst, Buffer.concat([len, Buffer.from(text, 'utf8'), bytes.subarray(8 + n)]));
}

const input = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i));
const shape = [2, 3, 8, 8] as const;
const labels = Int32Array.from([1, 7]);

test('a checkpoint whose metadata is broken, piece by piece, is refused and leaves the model as it was', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  // The checkpoint: another model, a few steps on, other optimizer settings.
  const other = DenseNet.create(TINY, { seed: 2 });
  t.teardown(() => other.dispose());
  other.setOptimizer({ lr: 0.05, momentum: 0.5, nesterov: false });
  for (let i = 0; i < 2; i++) await other.trainStep(input, shape, labels);
  const good = join(dir, 'good.safetensors');
  await other.saveCheckpoint(good, { epoch: 2 });

  const model = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => model.dispose());
  await model.trainStep(input, shape, labels);
  const before = { logits: Array.from((await model.predict(input, shape)).logits), step: model.step, optimizer: model.optimizer };

  const meta = (h: Record<string, any>): Record<string, string> => h.__metadata__ as Record<string, string>;
  const momentumKey = (h: Record<string, any>): string => Object.keys(h).find((k) => k.startsWith('optimizer.momentum.'))!;
  const breaks: [string, (h: Record<string, any>) => void, RegExp][] = [
    ['the caller state is not JSON', (h) => void (meta(h)['densenet.extra'] = '{"epoch": 2'), /densenet\.extra.*not JSON/],
    ['the caller state is missing', (h) => void delete meta(h)['densenet.extra'], /densenet\.extra/],
    ['the step is not a number', (h) => void (meta(h)['densenet.step'] = 'two'), /bad step/],
    ['the seed is not a number', (h) => void (meta(h)['densenet.seed'] = '-1'), /bad seed/],
    ['the optimizer settings are not JSON', (h) => void (meta(h)['densenet.optimizer'] = '{'), /bad optimizer metadata/],
    ['the optimizer settings are out of range', (h) => void (meta(h)['densenet.optimizer'] = JSON.stringify({ lr: 0.1, momentum: 2, nesterov: false, weightDecay: 0 })), /bad optimizer settings/],
    ['the config is another network', (h) => void (meta(h)['densenet.config'] = JSON.stringify({ ...TINY, growthRate: 6 })), /saved for config/],
    ['a momentum tensor has the wrong shape', (h) => {
      const k = momentumKey(h);
      const [a, b] = h[k].data_offsets as [number, number];
      h[k] = { ...h[k], shape: [(b - a) / 8], data_offsets: [a, a + ((b - a) / 2)] };
    }, /optimizer tensor|values|shape|offset|bytes/i],
    ['an unexpected optimizer tensor', (h) => {
      const k = momentumKey(h);
      h[k.replace('optimizer.momentum.', 'optimizer.momentum.features.nonexistent.')] = h[k];
      delete h[k];
    }, /unexpected optimizer tensor/],
  ];
  for (const [what, edit, message] of breaks) {
    const bad = join(dir, 'bad.safetensors');
    editHeader(good, bad, edit);
    const e = await t.throwsAsync(model.loadCheckpoint(bad), { instanceOf: WeightsError }, what);
    t.regex(e!.message, message, what);
    t.true(e!.message.includes(bad), `${what}: names the file`);
    t.deepEqual(Array.from((await model.predict(input, shape)).logits), before.logits, `${what}: weights unchanged`);
    t.is(model.step, before.step, `${what}: step unchanged`);
    t.deepEqual(model.optimizer, before.optimizer, `${what}: optimizer unchanged`);
  }
  // The unbroken file loads, and does change the model: the checks above could fail.
  t.deepEqual(await model.loadCheckpoint(good), { epoch: 2 });
  t.notDeepEqual(Array.from((await model.predict(input, shape)).logits), before.logits);
  t.is(model.step, 2);
});

test('train({ resume }) that is refused (another batch size, a state that is not a training state) leaves the model as it was', async (t) => {
  const { train } = await import('../ts/train/index.js');
  const { SubsetDataset, loadDataset } = await import('../ts/index.js');
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const full = await loadDataset('mnist');
  const trainSet = new SubsetDataset(full, Int32Array.from({ length: 64 }, (_, i) => i), 'mnist-64');
  const config = { ...TINY, inChannels: 1 };
  const first = DenseNet.create(config, { seed: 3 });
  t.teardown(() => first.dispose());
  await train(first, { trainSet, epochs: 1, batchSize: 32, validationSize: 0, outDir: dir });

  const model = DenseNet.create(config, { seed: 4 });
  t.teardown(() => model.dispose());
  const x = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.cos(i));
  const logits = async (): Promise<number[]> => Array.from((await model.predict(x, [2, 1, 28, 28])).logits);
  const before = await logits();
  const e = await t.throwsAsync(train(model, { trainSet, epochs: 2, batchSize: 16, validationSize: 0, outDir: dir, resume: true }));
  t.regex(e!.message, /cannot resume .*batchSize 32, now 16/);
  t.deepEqual(await logits(), before, 'weights unchanged');
  t.is(model.step, 0);
  const other = join(dir, 'other.safetensors');
  await first.saveCheckpoint(other, { not: 'a training state' });
  const f = await t.throwsAsync(train(model, { trainSet, epochs: 2, batchSize: 32, validationSize: 0, outDir: dir, resume: other }));
  t.regex(f!.message, /not a training checkpoint/);
  t.deepEqual(await logits(), before, 'weights unchanged');
  // The same options resume, and that does load the checkpoint.
  await train(model, { trainSet, epochs: 1, batchSize: 32, validationSize: 0, outDir: dir, resume: true });
  t.notDeepEqual(await logits(), before);
});
