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
