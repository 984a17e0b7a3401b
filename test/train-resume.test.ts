/**
 * Resume after `kill -9`: a run killed in the middle of an epoch (after the previous epoch's
 * checkpoint) and resumed in a new process ends with bit-identical weights and the same results.csv
 * as an uninterrupted run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { readResultsCsv } from '../ts/train/index.js';
import { runTrainChild } from './helpers/run-train-child.js';
import { sameSafetensors, tempDir } from './helpers/util.js';

test('kill -9 mid-run after epoch 2, resume in a new process: final weights bit-identical to an uninterrupted run', async (t) => {
  const { dir, cleanup } = tempDir('densenet-resume-');
  t.teardown(cleanup);
  const a = join(dir, 'a');
  const b = join(dir, 'b');

  const [full, killed] = await Promise.all([
    runTrainChild([a]),
    // Epochs after 2 are slowed down (timing only), so the kill lands inside epoch 3.
    runTrainChild([b, '--slow-after', '2'], { when: (e) => e.type === 'checkpoint' && e.epoch === 2 }),
  ]);
  t.is(full.code, 0, full.stderr);
  t.is(killed.signal, 'SIGKILL', killed.stderr);
  t.false(killed.events.some((e) => e.type === 'end'), 'the killed run must not have finished');
  t.false(killed.events.some((e) => e.type === 'epoch' && e.epoch === 3), 'killed inside epoch 3');
  t.false(existsSync(join(b, 'final.safetensors')));
  t.true(existsSync(join(b, 'checkpoint.safetensors')));

  const resumed = await runTrainChild([b, '--resume']);
  t.is(resumed.code, 0, resumed.stderr);
  const start = resumed.events.find((e) => e.type === 'start')!;
  t.deepEqual(start, { type: 'start', resumed: true, epoch: 2, batch: 0 });
  const end = resumed.events.find((e) => e.type === 'end')!;
  const endA = full.events.find((e) => e.type === 'end')!;
  t.is(end.epochs, 4);
  t.is(end.step, endA.step, 'same number of optimizer steps in total');

  const wa = readFileSync(join(a, 'final.safetensors'));
  const wb = readFileSync(join(b, 'final.safetensors'));
  t.true(sameSafetensors(wa, wb), 'final.safetensors differ');
  t.true(sameSafetensors(readFileSync(join(a, 'best.safetensors')), readFileSync(join(b, 'best.safetensors'))), 'best.safetensors differ');
  t.is(readFileSync(join(a, 'results.csv'), 'utf8'), readFileSync(join(b, 'results.csv'), 'utf8'));
  t.is(readResultsCsv(join(b, 'results.csv')).length, 4);
});
