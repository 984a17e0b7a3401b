/**
 * The `train`, `eval` and `plot` commands, run from source in a child process on tiny MNIST subsets
 * (`--limit`, a hidden flag).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import sharp from 'sharp';

import { DenseNet } from '../ts/index.js';
import { readResultsCsv } from '../ts/train/index.js';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'ts/cli/main.ts');

const TINY_RUN = ['--limit', '256', '--validation-size', '64', '--batch-size', '32', '--threads', '2'];
const STACK = /^\s+at /m;

test('densenet train --json prints one JSON line per epoch and writes results.csv, best/final weights', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-train-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const r = await cli(['train', ...TINY_RUN, '--epochs', '2', '--out', out, '--json']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochs = lines.filter((l) => l.type === 'epoch');
  t.is(epochs.length, 2);
  t.deepEqual(epochs.map((e) => e.epoch), [1, 2]);
  for (const e of epochs) {
    for (const k of ['train_loss', 'train_error', 'valid_loss', 'valid_error', 'test_error', 'lr', 'images_per_second', 'data_share']) {
      t.is(typeof e[k], 'number', k);
    }
  }
  const result = lines[lines.length - 1]!;
  t.is(result.type, 'result');
  t.is(result.aborted, false);
  t.is(typeof result.test_error, 'number');
  const rows = readResultsCsv(join(out, 'results.csv'));
  t.is(rows.length, 2);
  t.is(rows[1]!.trainLoss.toFixed(6), (epochs[1]!.train_loss as number).toFixed(6));
  for (const f of ['best.safetensors', 'final.safetensors', 'checkpoint.safetensors', 'summary.json', 'train-options.json']) {
    t.true(existsSync(join(out, f)), f);
  }

  // A second run into the same directory needs --resume (or --force).
  const again = await cli(['train', ...TINY_RUN, '--epochs', '2', '--out', out]);
  t.is(again.code, 1);
  t.regex(again.stderr, /already holds a training run.*--resume/);

  // eval of the best model: top-1/top-5 single crop.
  const ev = await cli(['eval', '--model', join(out, 'best.safetensors'), '--dataset', 'mnist', '--limit', '200', '--json']);
  t.is(ev.code, 0, ev.stderr);
  const ej = JSON.parse(ev.stdout) as { images: number; singleCrop: { top1Error: number; top5Error: number; crops: number }; tenCrop: unknown };
  t.is(ej.images, 200);
  t.is(ej.singleCrop.crops, 1);
  t.true(ej.singleCrop.top1Error >= 0 && ej.singleCrop.top1Error <= 1);
  t.true(ej.singleCrop.top5Error <= ej.singleCrop.top1Error);
  t.is(ej.tenCrop, null);
  const evText = await cli(['eval', '--model', join(out, 'best.safetensors'), '--limit', '100']);
  t.is(evText.code, 0, evText.stderr);
  t.regex(evText.stdout, /single-crop: top-1 error \d+\.\d\d% \(\d+\/100 wrong\), top-5 error \d+\.\d\d%/);

  // plot: a valid PNG.
  const png = join(dir, 'curves.png');
  const p = await cli(['plot', join(out, 'results.csv'), '-o', png]);
  t.is(p.code, 0, p.stderr);
  const meta = await sharp(png).metadata();
  t.is(meta.format, 'png');
  t.is(meta.width, 1200);
  t.is(meta.height, 480);
});

test('densenet train prints plain lines (no progress bar) when stdout is not a TTY', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-plain-');
  t.teardown(cleanup);
  const r = await cli(['train', ...TINY_RUN, '--epochs', '2', '--out', join(dir, 'run'), '--schedule', 'multistep', '--no-augment']);
  t.is(r.code, 0, r.stderr);
  t.false(r.stdout.includes('\r') || r.stdout.includes('\u001b'), 'no control characters');
  const epochLines = r.stdout.split('\n').filter((l) => /^epoch \d\/2 \|/.test(l));
  t.is(epochLines.length, 2);
  t.regex(epochLines[0]!, /train loss \d+\.\d{4} err [\d.]+% \| valid loss [\d.]+ err [\d.]+% \| test err [\d.]+% \| lr 0\.1 \|/);
  t.regex(r.stdout, /multistep/);
  t.regex(r.stdout, /augment off/);
  t.regex(r.stdout, /best epoch \d: valid error [\d.]+%, test error [\d.]+%/);
  t.regex(r.stdout, /waiting for data [\d.]+% of step time/);
});

test('Ctrl-C (SIGINT) stops with exit code 130 and a checkpoint; --resume continues with the stored options', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-sigint-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'train', ...TINY_RUN, '--epochs', '6', '--out', out, '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (!sent && stdout.includes('"type":"epoch"')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.is(code, 130, stderr);
  t.regex(stderr, /interrupted/);
  t.regex(stderr, /densenet train --resume --out/);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const result = lines[lines.length - 1]!;
  t.is(result.type, 'result');
  t.is(result.aborted, true);
  const done = result.epochs_completed as number;
  t.true(done >= 1 && done < 6);
  t.true(existsSync(join(out, 'checkpoint.safetensors')));

  // Resume: only --out and --resume; the stored options (limit, epochs, batch size...) are reused.
  const r = await cli(['train', '--resume', '--out', out, '--json']);
  t.is(r.code, 0, r.stderr);
  const epochs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.type === 'epoch');
  t.is(epochs[0]!.epoch, done + 1);
  t.is(epochs[epochs.length - 1]!.epoch, 6);
  t.is(readResultsCsv(join(out, 'results.csv')).length, 6);
});

test('bad inputs print one clear line and exit 1', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-bad-');
  t.teardown(cleanup);
  const unknown = await cli(['train', '--dataset', 'imagenet42', '--out', join(dir, 'a')]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /imagenet42/);
  t.regex(unknown.stderr, /cifar10/);

  const missing = await cli(['train', '--dataset', 'cifar10', '--data', join(dir, 'no-such-dir'), '--out', join(dir, 'b')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /data directory not found: .*no-such-dir/);
  t.notRegex(missing.stderr, STACK);

  mkdirSync(join(dir, 'empty'));
  const empty = await cli(['train', '--dataset', 'cifar10', '--data', join(dir, 'empty'), '--out', join(dir, 'c')]);
  t.is(empty.code, 1);
  t.regex(empty.stderr, /not found/i);
  t.regex(empty.stderr, /--download/);
  t.notRegex(empty.stderr, STACK);

  const folder = await cli(['train', '--dataset', 'folder', '--out', join(dir, 'd')]);
  t.is(folder.code, 1);
  t.regex(folder.stderr, /--data DIR/);

  const badNum = await cli(['train', '--epochs', 'zero']);
  t.is(badNum.code, 1);
  t.regex(badNum.stderr, /--epochs/);

  const noModel = await cli(['eval', '--model', join(dir, 'nope.safetensors')]);
  t.is(noModel.code, 1);
  t.regex(noModel.stderr, /weights file not found/);

  const noCsv = await cli(['plot', join(dir, 'missing.csv')]);
  t.is(noCsv.code, 1);
  t.regex(noCsv.stderr, /cannot read .*missing\.csv/);
  writeFileSync(join(dir, 'bad.csv'), 'a,b\n1,2\n');
  const badCsv = await cli(['plot', join(dir, 'bad.csv')]);
  t.is(badCsv.code, 1);
  t.regex(badCsv.stderr, /header/);
});

test('densenet eval on an image folder reports single-crop and 10-crop errors', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-folder-');
  t.teardown(cleanup);
  const val = join(dir, 'data', 'val');
  for (const [c, color] of [['red', { r: 220, g: 20, b: 20 }], ['blue', { r: 20, g: 20, b: 220 }]] as const) {
    mkdirSync(join(val, c), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await sharp({ create: { width: 40 + 4 * i, height: 36, channels: 3, background: color } }).png().toFile(join(val, c, `${i}.png`));
    }
  }
  const config = { growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, numClasses: 2, inChannels: 3, smallInputs: true };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(config));
  await DenseNet.create(config, { seed: 4 }).save(join(dir, 'w.safetensors'));
  const r = await cli(['eval', '--model', join(dir, 'w.safetensors'), '--config', join(dir, 'model.json'), '--dataset', 'folder', '--data', join(dir, 'data'), '--json']);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { images: number; singleCrop: { crops: number; top5Error: number }; tenCrop: { crops: number; images: number; top1Error: number; top5Error: number } };
  t.is(j.images, 6);
  t.is(j.singleCrop.crops, 1);
  t.is(j.tenCrop.crops, 10);
  t.is(j.tenCrop.images, 6);
  t.is(j.tenCrop.top5Error, 0, 'two classes: always in the top 5');
  const single = await cli(['eval', '--model', join(dir, 'w.safetensors'), '--config', join(dir, 'model.json'), '--dataset', 'folder', '--data', join(dir, 'data'), '--no-ten-crop']);
  t.is(single.code, 0, single.stderr);
  t.regex(single.stdout, /single-crop/);
  t.notRegex(single.stdout, /10-crop/);
});
