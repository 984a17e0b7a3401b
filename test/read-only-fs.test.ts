// Writes to a read-only file system (issue "Reliability", class 5): every writer says EROFS, names the
// path, and leaves nothing behind. A real read-only tmpfs is mounted (root, as in CI); where mounting is
// not allowed the test is reported as skipped, never as passed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { DenseNet, IoError, SubsetDataset, loadDataset } from '../ts/index.js';
import { train, writeFileAtomic, writeFileAtomicAsync } from '../ts/train/index.js';
import { TINY } from './helpers/util.js';

function mountReadOnly(): { dir: string; unmount: () => void } | null {
  const dir = mkdtempSync(join(tmpdir(), 'densenet-rofs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ro = mountReadOnly();
const roTest = ro ? test.serial : test.skip;
test.after.always(() => ro?.unmount());

roTest('save, checkpoint and the atomic writers name the path and say EROFS', async (t) => {
  const dir = ro!.dir;
  const model = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => model.dispose());
  for (const [what, call] of [
    ['save', () => model.save(join(dir, 'w.safetensors'))],
    ['saveCheckpoint', () => model.saveCheckpoint(join(dir, 'c.safetensors'))],
    ['writeFileAtomicAsync', () => writeFileAtomicAsync(join(dir, 'results.csv'), 'x')],
    ['writeFileAtomic', async () => writeFileAtomic(join(dir, 'results.csv'), 'x')],
  ] as const) {
    const e = await t.throwsAsync(call(), { instanceOf: IoError }, what);
    t.regex(e!.message, /EROFS: the file system is read-only/, what);
    t.true(e!.message.includes(dir), `${what}: the message names the path`);
  }
  t.deepEqual(readdirSync(dir), [], 'nothing left behind');
});

roTest('train() into a read-only output directory fails at once with EROFS, before any step', async (t) => {
  const full = await loadDataset('mnist');
  const trainSet = new SubsetDataset(full, Int32Array.from({ length: 64 }, (_, i) => i), 'mnist-64');
  const model = DenseNet.create({ ...TINY, inChannels: 1 }, { seed: 1 });
  t.teardown(() => model.dispose());
  let steps = 0;
  const e = await t.throwsAsync(
    train(model, { trainSet, epochs: 1, batchSize: 32, validationSize: 0, outDir: ro!.dir, onEvent: (ev) => void (ev.type === 'batch' && steps++) }),
    { instanceOf: IoError },
  );
  t.regex(e!.message, /results\.csv.*EROFS/);
  t.is(steps, 0);
});

roTest('an output directory that must be created on a read-only file system: IoError naming it and EROFS, not ENOENT', async (t) => {
  const full = await loadDataset('mnist');
  const trainSet = new SubsetDataset(full, Int32Array.from({ length: 32 }, (_, i) => i), 'mnist-32');
  const model = DenseNet.create({ ...TINY, inChannels: 1 }, { seed: 1 });
  t.teardown(() => model.dispose());
  const outDir = join(ro!.dir, 'runs', 'mnist');
  const e = await t.throwsAsync(train(model, { trainSet, epochs: 1, batchSize: 32, validationSize: 0, outDir }), { instanceOf: IoError });
  t.true(e!.message.includes(outDir), e!.message);
  t.regex(e!.message, /EROFS: the file system is read-only/);
  t.notRegex(e!.message, /ENOENT/);
  t.deepEqual(readdirSync(ro!.dir), []);
});
