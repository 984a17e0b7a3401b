/**
 * The `train`, `eval`, `predict` and `plot` commands, run from source in a child process on tiny MNIST
 * subsets (`--limit`, a hidden flag), each in its own temporary working directory (`densenet train`
 * records its model in ./runs/last-run.json): JSON output in camelCase with rounded numbers, the
 * per-epoch table, a progress bar on a real pseudo-terminal (util-linux `script`) fitted to 80
 * columns, Ctrl-C and resume, and eval/predict defaulting to the last run's model.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';
import sharp from 'sharp';

import { DenseNet } from '../ts/index.js';
import { readResultsCsv } from '../ts/train/index.js';
import { CLI_NODE_ARGS, cli } from './helpers/cli.js';
import { tempDir } from './helpers/util.js';

const TINY_RUN = ['--limit', '256', '--validation-size', '64', '--batch-size', '32', '--threads', '2'];
const STACK = /^\s+at /m;

/** Every key of a JSON value, recursively. */
function keysOf(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) keysOf(x, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      keysOf(x, out);
    }
  }
  return out;
}

/** Every number of a JSON value, recursively, with its key. */
function numbersOf(v: unknown, key = '', out: [string, number][] = []): [string, number][] {
  if (typeof v === 'number') out.push([key, v]);
  else if (Array.isArray(v)) for (const x of v) numbersOf(x, key, out);
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) numbersOf(x, k, out);
  return out;
}

/** Decimal places of a number as JSON writes it. */
const decimals = (n: number): number => (/e-(\d+)$/.exec(String(n)) ? Number(/e-(\d+)$/.exec(String(n))![1]) : (String(n).split('.')[1] ?? '').length);

/** Keys in camelCase (one style, like the TypeScript API), numbers without float noise (≤ 6 decimals). */
function assertJsonStyle(t: { true: (v: boolean, m?: string) => void }, value: unknown, what: string): void {
  for (const k of keysOf(value)) t.true(/^[a-z][a-zA-Z0-9]*$/.test(k), `${what}: key "${k}" is not camelCase`);
  for (const [k, n] of numbersOf(value)) {
    if (k === 'mean' || k === 'std') continue; // normalization constants, as stored with the weights
    t.true(decimals(n) <= 6, `${what}: ${k} = ${n} has more than 6 decimals`);
  }
}

test('densenet train --json: camelCase lines with rounded numbers, results.csv, best/final weights, summary.json; eval --json; plot', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-train-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const r = await cli(['train', ...TINY_RUN, '--epochs', '2', '--out', out, '--json'], {}, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochs = lines.filter((l) => l.type === 'epoch');
  t.is(epochs.length, 2);
  t.deepEqual(epochs.map((e) => e.epoch), [1, 2]);
  for (const e of epochs) {
    for (const k of ['trainLoss', 'trainError', 'validLoss', 'validError', 'testError', 'lr', 'trainSeconds', 'evalSeconds', 'imagesPerSecond', 'dataShare']) {
      t.is(typeof e[k], 'number', k);
    }
    t.is(typeof e.isBest, 'boolean');
    assertJsonStyle(t, e, 'train --json epoch line');
    t.true(decimals(e.trainSeconds as number) <= 2 && decimals(e.imagesPerSecond as number) <= 1 && decimals(e.dataShare as number) <= 4);
  }
  const result = lines[lines.length - 1]!;
  t.like(result, { type: 'result', aborted: false, epochsCompleted: 2, epochs: 2, out, checkpoint: join(out, 'checkpoint.safetensors') });
  t.is(typeof result.testError, 'number');
  t.is(result.totalSeconds, result.seconds);
  assertJsonStyle(t, result, 'train --json result line');
  // The JSON numbers are those of results.csv (6 decimals).
  const rows = readResultsCsv(join(out, 'results.csv'));
  t.is(rows.length, 2);
  t.is(rows[1]!.trainLoss, epochs[1]!.trainLoss);
  t.is(rows[1]!.validError, epochs[1]!.validError);
  for (const f of ['best.safetensors', 'final.safetensors', 'checkpoint.safetensors', 'summary.json', 'train-options.json']) {
    t.true(existsSync(join(out, f)), f);
  }
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, unknown>;
  assertJsonStyle(t, summary, 'summary.json');
  t.like(summary, { aborted: false, epochsCompleted: 2, epochs: 2, testError: result.testError, seconds: result.seconds, totalSeconds: result.totalSeconds });

  // A second run into the same directory needs --resume (or --force).
  const again = await cli(['train', ...TINY_RUN, '--epochs', '2', '--out', out], {}, { cwd: dir });
  t.is(again.code, 1);
  t.regex(again.stderr, /already holds a training run.*--resume/);

  // --resume never starts afresh in silence, and never rewrites the run's files when it refuses.
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const none = await cli(['train', '--resume', '--out', empty], {}, { cwd: dir });
  t.is(none.code, 1);
  t.regex(none.stderr, /holds no training run to resume/);
  t.false(existsSync(join(empty, 'results.csv')));
  const optionsFile = join(out, 'train-options.json');
  const before = readFileSync(optionsFile, 'utf8');
  const csv = readFileSync(join(out, 'results.csv'), 'utf8');
  writeFileSync(optionsFile, '{bad');
  const corrupt = await cli(['train', '--resume', '--out', out], {}, { cwd: dir });
  t.is(corrupt.code, 1);
  t.regex(corrupt.stderr, /train-options\.json is not valid JSON/);
  t.is(readFileSync(optionsFile, 'utf8'), '{bad', 'the options file is left as it was');
  t.is(readFileSync(join(out, 'results.csv'), 'utf8'), csv, 'results.csv is left as it was');
  rmSync(optionsFile);
  const missing = await cli(['train', '--resume', '--out', out], {}, { cwd: dir });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /train-options\.json is missing/);
  writeFileSync(optionsFile, before);

  // eval of the best model: top-1/top-5 single crop, camelCase, rounded.
  const ev = await cli(['eval', '--model', join(out, 'best.safetensors'), '--dataset', 'mnist', '--limit', '200', '--json'], {}, { cwd: dir });
  t.is(ev.code, 0, ev.stderr);
  const ej = JSON.parse(ev.stdout) as { model: string; images: number; singleCrop: { top1Error: number; top5Error: number; crops: number }; tenCrop: unknown };
  assertJsonStyle(t, ej, 'eval --json');
  t.is(ej.model, join(out, 'best.safetensors'));
  t.is(ej.images, 200);
  t.is(ej.singleCrop.crops, 1);
  t.true(ej.singleCrop.top1Error >= 0 && ej.singleCrop.top1Error <= 1);
  t.true(ej.singleCrop.top5Error <= ej.singleCrop.top1Error);
  t.is(ej.tenCrop, null);
  const evText = await cli(['eval', '--model', join(out, 'best.safetensors'), '--limit', '100'], {}, { cwd: dir });
  t.is(evText.code, 0, evText.stderr);
  t.regex(evText.stdout, /on mnist test \(100 images\)/);
  t.regex(evText.stdout, /single-crop: top-1 error \d+\.\d\d% \(\d+\/100 wrong\), top-5 error \d+\.\d\d%/);
  const one = await cli(['eval', '--model', join(out, 'best.safetensors'), '--limit', '1'], {}, { cwd: dir });
  t.regex(one.stdout, /\(1 image\)/);

  // plot: a valid PNG.
  const png = join(dir, 'curves.png');
  const p = await cli(['plot', join(out, 'results.csv'), '-o', png], {}, { cwd: dir });
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, /\(2 epochs\)/);
  const meta = await sharp(png).metadata();
  t.is(meta.format, 'png');
  t.is(meta.width, 1200);
  t.is(meta.height, 480);
});

test('densenet info --json uses camelCase keys too', async (t) => {
  const r = await cli(['info', 'densenet-bc-100', '--json']);
  t.is(r.code, 0, r.stderr);
  assertJsonStyle(t, JSON.parse(r.stdout), 'info --json');
});

test('without a terminal: the per-epoch table (header + one row per epoch, at most 100 columns), no control characters', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-plain-');
  t.teardown(cleanup);
  const r = await cli(['train', ...TINY_RUN, '--epochs', '2', '--out', join(dir, 'run'), '--schedule', 'multistep', '--no-augment'], {}, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  t.log(r.stdout);
  t.false(r.stdout.includes('\r') || r.stdout.includes('\u001b'), 'no control characters');
  const lines = r.stdout.trimEnd().split('\n');
  const header = lines.findIndex((l) => /^epoch {2}train loss {2}train err {2}valid loss {2}valid err {2}test err/.test(l));
  t.true(header > 0, 'the table header');
  const rows = lines.slice(header + 1, header + 3);
  t.regex(rows[0]!, /^ +1\/2 +\d+\.\d{4} +[\d.]+% +\d+\.\d{4} +[\d.]+% +[\d.]+% +0\.1 +[\d.]+s +[\d,]+ +[\d.]+%( {2}\*)?$/);
  t.regex(rows[1]!, /^ +2\/2 /);
  for (const row of [lines[header]!, ...rows]) t.true(row.length <= 100, `${row.length} columns: ${row}`);
  t.regex(r.stdout, /^2 epochs, batch 32, lr 0\.1 multistep/m);
  t.regex(r.stdout, /augment off/);
  t.regex(r.stdout, /best epoch \d: valid error [\d.]+%, test error [\d.]+%/);
  t.regex(r.stdout, /^2 epochs in [\d.]+s, [\d,]+ img\/s, waiting for data [\d.]+% of step time$/m);

  const single = await cli(['train', ...TINY_RUN, '--epochs', '1', '--out', join(dir, 'one')], {}, { cwd: dir });
  t.is(single.code, 0, single.stderr);
  t.regex(single.stdout, /^1 epoch, batch 32/m);
  t.regex(single.stdout, /^1 epoch in /m);
  t.notRegex(single.stdout, /1 epochs/);
});

/**
 * Runs `densenet train` on a real pseudo-terminal (util-linux `script`), `cols` columns wide, and
 * returns what the terminal shows: one entry per redraw of the line (split at carriage returns,
 * newlines and cursor-to-column-1), escape sequences removed.
 */
function ptyTrain(cwd: string, cols: number, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; screens: string[]; raw: string } {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // The variables go on the command itself: the shell may reset COLUMNS after `stty` (bash's checkwinsize).
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`);
  const command = `stty cols ${cols} rows 24; exec env ${[...vars, process.execPath, ...CLI_NODE_ARGS, 'train', ...args].map(quote).join(' ')}`;
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { cwd, env: { ...process.env, DENSENET_DEBUG: '', COLUMNS: undefined }, encoding: 'utf8', timeout: 240_000 });
  const raw = r.stdout ?? '';
  const screens = raw
    .replace(/\u001b\[[0-9]*G/g, '\n') // cursor to a column: a redraw of the line
    .replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, '')
    .split(/\r\n|\r|\n/)
    .filter((l) => l.length > 0);
  return { code: r.status, screens, raw };
}

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

(hasScript ? test : test.skip)('on a real 80-column pseudo-terminal the progress bar fits with its ETA; COLUMNS=60 narrows it', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-pty-');
  t.teardown(cleanup);
  const args = ['--limit', '1024', '--validation-size', '64', '--batch-size', '32', '--threads', '2', '--epochs', '2', '--out', join(dir, 'run')];
  const at80 = ptyTrain(dir, 80, args);
  t.is(at80.code, 0, at80.raw);
  const bars = at80.screens.filter((l) => /^epoch \d\/2 /.test(l));
  t.true(bars.length >= 2, `progress lines drawn:\n${at80.screens.join('\n')}`);
  t.log(bars.slice(0, 3).join('\n'));
  for (const l of bars) {
    t.true(l.length <= 79, `${l.length} columns: ${l}`);
    t.regex(l, /ETA \S+$/, l);
    t.regex(l, /\[[█░]+\]/, 'the bar is drawn at 80 columns');
  }
  t.true(bars.some((l) => /loss \d+\.\d{4} {2}err [\d.]+%/.test(l)), 'loss and error fit at 80 columns');
  // The table is printed as usual (the bar cleared away), within 100 columns.
  const rows = at80.screens.filter((l) => /^ +[12]\/2 /.test(l));
  t.is(rows.length, 2, at80.screens.join('\n'));
  const header = at80.screens.find((l) => /^epoch {2}train loss/.test(l));
  for (const l of [header ?? '', ...rows]) t.true(l.length > 0 && l.length <= 100, l);
  t.true(at80.raw.includes('\u001b[?25h'), 'the cursor is shown again at the end');

  // $COLUMNS overrides the terminal's width.
  const at60 = ptyTrain(dir, 80, [...args.slice(0, -2), '--out', join(dir, 'run60')], { COLUMNS: '60' });
  t.is(at60.code, 0, at60.raw);
  const narrow = at60.screens.filter((l) => /^epoch \d\/2 /.test(l));
  t.true(narrow.length >= 2);
  for (const l of narrow) {
    t.true(l.length <= 59, `${l.length} columns: ${l}`);
    t.regex(l, /ETA \S+$/, l);
  }
});

test('Ctrl-C (SIGINT) stops with exit code 130 and a checkpoint; --resume continues with the stored options and counts the total time', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-sigint-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'train', ...TINY_RUN, '--epochs', '6', '--out', out, '--json'], {
    cwd: dir,
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
  t.regex(stderr, /stopped after \d+ complete epochs? of 6 \([^)]+\); checkpoint run\/checkpoint\.safetensors/);
  t.notRegex(stderr, /\b1 complete epochs\b/);
  t.regex(stderr, /continue with: densenet train --resume --out run$/m);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const result = lines[lines.length - 1]!;
  t.like(result, { type: 'result', aborted: true, checkpoint: join(out, 'checkpoint.safetensors') });
  const done = result.epochsCompleted as number;
  t.true(done >= 1 && done < 6);
  t.true(existsSync(join(out, 'checkpoint.safetensors')));

  // Resume: only --out and --resume; the stored options (limit, epochs, batch size...) are reused.
  const r = await cli(['train', '--resume', '--out', out, '--json'], {}, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  const resumed = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochs = resumed.filter((l) => l.type === 'epoch');
  t.is(epochs[0]!.epoch, done + 1);
  t.is(epochs[epochs.length - 1]!.epoch, 6);
  t.is(readResultsCsv(join(out, 'results.csv')).length, 6);
  const end = resumed[resumed.length - 1]!;
  t.true((end.totalSeconds as number) > (end.seconds as number), `total ${String(end.totalSeconds)} s, this session ${String(end.seconds)} s`);
  const text = await cli(['train', '--resume', '--out', out, '--epochs', '7'], {}, { cwd: dir });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^7 epochs in \S+ in all \(this session \S+\)/m);
});

test('eval and predict use the model of the last densenet train (runs/last-run.json) and say so; a clear error when there is none', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-last-');
  t.teardown(cleanup);
  const png = join(dir, 'digit.png');
  await sharp({ create: { width: 28, height: 28, channels: 3, background: '#000' } }).png().toFile(png);

  // Nothing trained here yet.
  const none = await cli(['eval', '--limit', '10'], {}, { cwd: dir });
  t.is(none.code, 1);
  t.regex(none.stderr, /no --model given and no trained model recorded here \(runs\/last-run\.json does not exist/);
  t.regex(none.stderr, /pass --model FILE, or train one first with `densenet train`.*\[ERR_INVALID_ARG\]/);
  t.notRegex(none.stderr, STACK);
  const noneP = await cli(['predict', png], {}, { cwd: dir });
  t.is(noneP.code, 1);
  t.regex(noneP.stderr, /densenet predict: no --model given/);

  // Default output directory runs/mnist.
  const tr = await cli(['train', ...TINY_RUN, '--epochs', '1'], {}, { cwd: dir });
  t.is(tr.code, 0, tr.stderr);
  const record = JSON.parse(readFileSync(join(dir, 'runs/last-run.json'), 'utf8')) as Record<string, unknown>;
  t.like(record, { version: 1, outDir: join(dir, 'runs/mnist'), model: join(dir, 'runs/mnist/best.safetensors'), dataset: 'mnist' });
  const ev = await cli(['eval', '--limit', '50', '--json'], {}, { cwd: dir });
  t.is(ev.code, 0, ev.stderr);
  t.regex(ev.stderr, /^densenet eval: note: using runs\/mnist\/best\.safetensors, the best model of the last `densenet train` \(recorded in runs\/last-run\.json\), on mnist$/m);
  t.is((JSON.parse(ev.stdout) as { model: string }).model, join(dir, 'runs/mnist/best.safetensors'));
  const pr = await cli(['predict', '--json', png], {}, { cwd: dir });
  t.is(pr.code, 0, pr.stderr);
  t.regex(pr.stderr, /densenet predict: note: using runs\/mnist\/best\.safetensors/);
  const top = (JSON.parse(pr.stdout) as { top: { label: string; probability: number; logit: number }[] }[])[0]!.top;
  t.is(top.length, 5);
  assertJsonStyle(t, JSON.parse(pr.stdout), 'predict --json');

  // A later run elsewhere (--out) becomes the default.
  const other = join(dir, 'elsewhere');
  const tr2 = await cli(['train', ...TINY_RUN, '--epochs', '1', '--out', other], {}, { cwd: dir });
  t.is(tr2.code, 0, tr2.stderr);
  const ev2 = await cli(['eval', '--limit', '20', '--json'], {}, { cwd: dir });
  t.is(ev2.code, 0, ev2.stderr);
  t.is((JSON.parse(ev2.stdout) as { model: string }).model, join(other, 'best.safetensors'));
  t.regex(ev2.stderr, /using elsewhere\/best\.safetensors/);
  // --model wins, silently.
  const explicit = await cli(['eval', '--model', join(dir, 'runs/mnist/best.safetensors'), '--limit', '20', '--json'], {}, { cwd: dir });
  t.is(explicit.code, 0, explicit.stderr);
  t.is(explicit.stderr, '');

  // The recorded model was deleted.
  rmSync(join(other, 'best.safetensors'));
  const gone = await cli(['eval', '--limit', '20'], {}, { cwd: dir });
  t.is(gone.code, 1);
  t.regex(gone.stderr, /the last training run \(elsewhere, recorded in runs\/last-run\.json\) has no model: elsewhere\/best\.safetensors does not exist/);
  // A broken record.
  writeFileSync(join(dir, 'runs/last-run.json'), '{"hello": 1}');
  const broken = await cli(['predict', png], {}, { cwd: dir });
  t.is(broken.code, 1);
  t.regex(broken.stderr, /runs\/last-run\.json is not a record of a training run/);
});

test('a run that cannot record itself (runs/ is a file) still trains, with a warning', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-norecord-');
  t.teardown(cleanup);
  writeFileSync(join(dir, 'runs'), 'not a directory');
  const r = await cli(['train', ...TINY_RUN, '--epochs', '1', '--out', join(dir, 'out')], {}, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /warning: could not record this run in runs\/last-run\.json .*eval and predict will need --model/);
  t.true(existsSync(join(dir, 'out', 'final.safetensors')));
});

test('bad inputs print one clear line and exit 1', async (t) => {
  const { dir, cleanup } = tempDir('densenet-cli-bad-');
  t.teardown(cleanup);
  const unknown = await cli(['train', '--dataset', 'imagenet42', '--out', join(dir, 'a')], {}, { cwd: dir });
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /imagenet42/);
  t.regex(unknown.stderr, /cifar10/);

  const missing = await cli(['train', '--dataset', 'cifar10', '--data', join(dir, 'no-such-dir'), '--out', join(dir, 'b')], {}, { cwd: dir });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /data directory not found: .*no-such-dir/);
  t.notRegex(missing.stderr, STACK);

  mkdirSync(join(dir, 'empty'));
  const empty = await cli(['train', '--dataset', 'cifar10', '--data', join(dir, 'empty'), '--out', join(dir, 'c')], {}, { cwd: dir });
  t.is(empty.code, 1);
  t.regex(empty.stderr, /not found/i);
  t.regex(empty.stderr, /--download/);
  t.notRegex(empty.stderr, STACK);

  const folder = await cli(['train', '--dataset', 'folder', '--out', join(dir, 'd')], {}, { cwd: dir });
  t.is(folder.code, 1);
  t.regex(folder.stderr, /--data DIR/);

  const badNum = await cli(['train', '--epochs', 'zero'], {}, { cwd: dir });
  t.is(badNum.code, 1);
  t.regex(badNum.stderr, /--epochs/);

  const noModel = await cli(['eval', '--model', join(dir, 'nope.safetensors')], {}, { cwd: dir });
  t.is(noModel.code, 1);
  t.regex(noModel.stderr, /weights file not found/);

  const noCsv = await cli(['plot', join(dir, 'missing.csv')], {}, { cwd: dir });
  t.is(noCsv.code, 1);
  t.regex(noCsv.stderr, /cannot read .*missing\.csv/);
  writeFileSync(join(dir, 'bad.csv'), 'a,b\n1,2\n');
  const badCsv = await cli(['plot', join(dir, 'bad.csv')], {}, { cwd: dir });
  t.is(badCsv.code, 1);
  t.regex(badCsv.stderr, /header/);
  t.false(existsSync(join(dir, 'runs')), 'failed runs record nothing');
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
  const r = await cli(['eval', '--model', join(dir, 'w.safetensors'), '--config', join(dir, 'model.json'), '--dataset', 'folder', '--data', join(dir, 'data'), '--json'], {}, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { images: number; singleCrop: { crops: number; top5Error: number }; tenCrop: { crops: number; images: number; top1Error: number; top5Error: number } };
  assertJsonStyle(t, j, 'eval --json (10-crop)');
  t.is(j.images, 6);
  t.is(j.singleCrop.crops, 1);
  t.is(j.tenCrop.crops, 10);
  t.is(j.tenCrop.images, 6);
  t.is(j.tenCrop.top5Error, 0, 'two classes: always in the top 5');
  const single = await cli(['eval', '--model', join(dir, 'w.safetensors'), '--config', join(dir, 'model.json'), '--dataset', 'folder', '--data', join(dir, 'data'), '--no-ten-crop'], {}, { cwd: dir });
  t.is(single.code, 0, single.stderr);
  t.regex(single.stdout, /single-crop/);
  t.notRegex(single.stdout, /10-crop/);
});
