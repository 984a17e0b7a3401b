/**
 * Resume after `kill -9`: a run killed in the middle of an epoch (after the previous epoch's
 * checkpoint) and resumed in a new process ends with bit-identical weights and the same results.csv
 * as an uninterrupted run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { readResultsCsv } from '../ts/train/index.js';
import { sameSafetensors, tempDir } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const child = join(root, 'test/helpers/train-child.ts');

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: Record<string, unknown>[];
  stderr: string;
}

/**
 * Runs the training child; when `killWhen` returns true for an event line, sends SIGKILL right away.
 */
function runChild(args: string[], killWhen?: (e: Record<string, unknown>) => boolean): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const events: Record<string, unknown>[] = [];
    let buf = '';
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        if (killWhen?.(e)) p.kill('SIGKILL');
      }
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, events, stderr }));
  });
}

test('kill -9 mid-run after epoch 2, resume in a new process: final weights bit-identical to an uninterrupted run', async (t) => {
  const { dir, cleanup } = tempDir('densenet-resume-');
  t.teardown(cleanup);
  const a = join(dir, 'a');
  const b = join(dir, 'b');

  const [full, killed] = await Promise.all([
    runChild([a]),
    // Epochs after 2 are slowed down (timing only), so the kill lands inside epoch 3.
    runChild([b, '--slow-after', '2'], (e) => e.type === 'checkpoint' && e.epoch === 2),
  ]);
  t.is(full.code, 0, full.stderr);
  t.is(killed.signal, 'SIGKILL', killed.stderr);
  t.false(killed.events.some((e) => e.type === 'end'), 'the killed run must not have finished');
  t.false(killed.events.some((e) => e.type === 'epoch' && e.epoch === 3), 'killed inside epoch 3');
  t.false(existsSync(join(b, 'final.safetensors')));
  t.true(existsSync(join(b, 'checkpoint.safetensors')));

  const resumed = await runChild([b, '--resume']);
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
