import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import test from 'ava';

import { DenseNet, IoError, WeightsError } from '../ts/index.js';
import { TINY, tempDir } from './helpers/util.js';

test('a directory or a FIFO given as weights is refused up front with IoError (never read or waited on)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const fifo = join(dir, 'weights.fifo');
  execFileSync('mkfifo', [fifo]);
  const model = DenseNet.create(TINY, { seed: 1 });
  for (const [path, kind] of [
    [dir, 'a directory'],
    [fifo, 'a FIFO'],
  ] as const) {
    const e1 = await t.throwsAsync(DenseNet.load(path), { instanceOf: IoError });
    t.regex(e1?.message ?? '', new RegExp(kind));
    const e2 = await t.throwsAsync(model.load(path), { instanceOf: IoError });
    t.regex(e2?.message ?? '', new RegExp(kind));
  }
  await t.throwsAsync(model.save(dir), { instanceOf: IoError, message: /directory/ });
});

test('a checkpoint given to load() is a WeightsError naming loadCheckpoint', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const model = DenseNet.create(TINY, { seed: 1 });
  const ckpt = join(dir, 'ckpt.safetensors');
  await model.saveCheckpoint(ckpt, {});
  const e = await t.throwsAsync(model.load(ckpt), { instanceOf: WeightsError });
  t.regex(e?.message ?? '', /training checkpoint.*loadCheckpoint/);
});
