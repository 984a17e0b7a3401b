import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import test from 'ava';

import { DataError, DenseNet, IoError, WeightsError } from '../ts/index.js';
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

test('a FIFO named like an image inside an image folder is refused up front, naming it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const sharp = (await import('sharp')).default;
  for (const c of ['a', 'b']) {
    mkdirSync(join(dir, c));
    writeFileSync(join(dir, c, '0.png'), await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer());
  }
  execFileSync('mkfifo', [join(dir, 'b', 'trap.png')]);
  const { loadImageFolder } = await import('../ts/index.js');
  const err = await t.throwsAsync(loadImageFolder(dir, { size: 4 }), { instanceOf: DataError });
  t.is(err?.code, 'ERR_DATA_BAD_FORMAT');
  t.regex(err?.message ?? '', /trap\.png is a FIFO/);
});

test('a data file that is a directory or a FIFO is a DataError naming it (not a bare EISDIR, never a hang)', async (t) => {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { loadDataset } = await import('../ts/index.js');
  const { dir: root, cleanup } = tempDir();
  t.teardown(cleanup);
  const dir = join(root, 'cifar-10-batches-bin');
  mkdirSync(dir);
  writeFileSync(join(dir, 'batches.meta.txt'), 'a\nb\n');
  for (const f of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5']) mkdirSync(join(dir, `${f}.bin`));
  const e = await t.throwsAsync(loadDataset('cifar10', { root }), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_BAD_FORMAT');
  t.is(e!.file, join(dir, 'data_batch_1.bin'));
  t.regex(e!.message, /is a directory, expected a data file/);
  execFileSync('mkfifo', [join(dir, 'test_batch.bin')]);
  const f = await t.throwsAsync(loadDataset('cifar10', { root, split: 'test' }), { instanceOf: DataError });
  t.regex(f!.message, /test_batch\.bin: is a FIFO, expected a data file/);
  mkdirSync(join(root, 'svhn'));
  mkdirSync(join(root, 'svhn', 'test_32x32.mat'));
  const s = await t.throwsAsync(loadDataset('svhn', { root, split: 'test' }), { instanceOf: DataError });
  t.regex(s!.message, /test_32x32\.mat: is a directory/);
});
