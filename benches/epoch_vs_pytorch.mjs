#!/usr/bin/env node
// End to end, as a user runs it: `densenet train` (the CLI: data pipeline, augmentation, the
// training steps, validation and test passes, results.csv, checkpoint and best weights) against
// the reference recipe's PyTorch script (benches/torch_epoch.py) on the same CIFAR-10 binary
// files, for one epoch each, alternating, and our bare training step (train_bench, the Rust step
// without Node or data) to see how much of the epoch the pipeline costs.
//
//   node benches/epoch_vs_pytorch.mjs [--preset densenet-bc-40] [--train 4000] [--test 1000]
//       [--validation-size 500] [--threads 2] [--workers 0] [--repeats 3] [--json]
//
// The data are real handwritten digits (the embedded MNIST, padded to 32×32 and colorized with a
// seeded random foreground/background per image) written as data_batch_1..5.bin + test_batch.bin,
// so both sides learn something and results.csv means something. Reported per side: seconds of
// the epoch (training + evaluation + files), seconds of the whole process, training images/s and
// peak RSS (GNU time); ours also against `train_bench`'s step time × the epoch's steps.
// PYTHON (default python3) must import torch, torchvision and PIL (pillow).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, buildExample, fix, haveGnuTime, loadavg, machine, median, mib, parseFlags, runMeasured, table } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), {
  preset: 'densenet-bc-40', train: 4000, test: 1000, validationSize: 500, threads: 2, workers: 0,
  repeats: 3, stepRuns: 3, seed: 0, build: true, json: false, keep: false,
});
const log = f.json ? (s) => process.stderr.write(s + '\n') : (s) => console.log(s);
const RECORD = 3073;

/** The configs the two sides build: a preset, or densenet-bc-40 (densenet-bc-100 with 6 layers a block). */
async function modelConfig() {
  const { createConfig } = await import(path.join(ROOT, 'dist', 'index.js'));
  if (f.preset === 'densenet-bc-40') return { ...createConfig('densenet-bc-100'), blockConfig: [6, 6, 6] };
  return createConfig(f.preset);
}

/** A seeded 32-bit generator (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Writes `train` + `test` colorized MNIST digits as CIFAR-10 binary files into `dir`. */
async function writeData(dir) {
  const data = await import(path.join(ROOT, 'dist', 'data', 'index.js'));
  const ds = data.decodeMnistAsset(readFileSync(data.MNIST_ASSET_PATH), 'mnist asset', true);
  if (ds.height !== 32 || ds.width !== 32) throw new Error('expected 32×32 padded digits');
  if (f.train + f.test > ds.length) throw new Error(`--train + --test must be at most ${ds.length}`);
  const rand = rng(f.seed + 1);
  // The asset is grouped by digit: draw the images in a seeded random order.
  const order = Array.from({ length: ds.length }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const record = (k, out, off) => {
    const i = order[k];
    out[off] = ds.labels[i];
    const fg = [0, 1, 2].map(() => 128 + Math.floor(rand() * 128));
    const bg = [0, 1, 2].map(() => Math.floor(rand() * 100));
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        const a = ds.pixels[i * 1024 + p] / 255;
        out[off + 1 + c * 1024 + p] = Math.round(bg[c] + a * (fg[c] - bg[c]));
      }
    }
  };
  const file = (name, from, n) => {
    const buf = Buffer.alloc(n * RECORD);
    for (let i = 0; i < n; i++) record(from + i, buf, i * RECORD);
    writeFileSync(path.join(dir, name), buf);
  };
  const per = Math.ceil(f.train / 5);
  for (let b = 0; b < 5; b++) file(`data_batch_${b + 1}.bin`, b * per, Math.max(0, Math.min(per, f.train - b * per)));
  file('test_batch.bin', f.train, f.test);
  writeFileSync(path.join(dir, 'batches.meta.txt'), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n');
}

const work = mkdtempSync(path.join(os.tmpdir(), 'densenet-epoch-bench-'));
const dataDir = path.join(work, 'cifar-10-batches-bin');
mkdirSync(dataDir);
await writeData(dataDir);
const configFile = path.join(work, 'config.json');
writeFileSync(configFile, JSON.stringify(await modelConfig()));
log(`data: ${f.train} training (${f.validationSize} held out for validation) + ${f.test} test images in ${dataDir}`);

const py = process.env.PYTHON || 'python3';
const cli = path.join(ROOT, 'dist', 'cli', 'main.js');
const trainImages = f.train - f.validationSize;
const steps = Math.ceil(trainImages / 64);
const sides = {
  ours: (out) => [process.execPath, [cli, '--threads', String(f.threads), 'train', '--dataset', 'cifar10', '--data', dataDir,
    '--config', configFile, '--epochs', '1', '--batch-size', '64', '--validation-size', String(f.validationSize),
    '--augment', '--seed', String(f.seed), '--out', out, '--force', '--json']],
  pytorch: (out) => [py, [path.join(ROOT, 'benches', 'torch_epoch.py'), '--data', dataDir, '--out', out, '--preset', f.preset,
    '--epochs', '1', '--batch', '64', '--validation-size', String(f.validationSize), '--threads', String(f.threads),
    '--workers', String(f.workers), '--seed', String(f.seed)]],
};

/** The epoch's figures from a side's JSON line. */
function figures(side, json, wallS) {
  if (side === 'pytorch') return { epoch_s: json.epochs_s, train_s: json.train_s, wall_s: wallS, test_error: json.test_error };
  // The CLI's final line: the run's result (seconds of the epochs, the data share of training).
  return { epoch_s: json.seconds, train_s: null, wall_s: wallS, test_error: json.testError ?? null, data_share: json.dataShare ?? null };
}

const result = {
  benchmark: 'epoch_vs_pytorch',
  command: `node benches/epoch_vs_pytorch.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  gnuTime: haveGnuTime,
  settings: { preset: f.preset, train: f.train, validation: f.validationSize, test: f.test, batch: 64, steps, threads: f.threads, workers: f.workers, repeats: f.repeats },
  runs: { ours: [], pytorch: [], step: [] },
};

const bin = buildExample('train_bench', { build: f.build, log });
for (let r = 0; r < f.repeats; r++) {
  const order = r % 2 ? ['pytorch', 'ours'] : ['ours', 'pytorch'];
  for (const side of order) {
    const out = path.join(work, `${side}-${r}`);
    rmSync(out, { recursive: true, force: true });
    const [cmd, args] = sides[side](out);
    const before = loadavg();
    const m = runMeasured(cmd, args, { log });
    const fig = figures(side, m.json, m.wallS);
    result.runs[side].push({ round: r + 1, ...fig, img_per_s: trainImages / fig.epoch_s, max_rss_kb: m.maxRssKb, loadavg_before: before, loadavg: loadavg() });
    log(`  round ${r + 1} ${side}: epoch ${fix(fig.epoch_s, 1)} s, process ${fix(m.wallS, 1)} s, peak RSS ${mib(m.maxRssKb)} MiB, load ${before[0]}`);
  }
  if (r < f.stepRuns) {
    const m = runMeasured(bin, ['--preset', f.preset, '--batch', '64', '--threads', String(f.threads), '--steps', '8', '--warmup', '2'], { log });
    result.runs.step.push({ round: r + 1, step_ms: m.json.step_ms, loadavg: loadavg() });
    log(`  round ${r + 1} train_bench: step ${fix(m.json.step_ms, 0)} ms`);
  }
}
if (!f.keep) rmSync(work, { recursive: true, force: true });

const med = (side, key) => median(result.runs[side].map((x) => x[key]));
const stepMs = median(result.runs.step.map((x) => x.step_ms));
result.summary = {
  ours_epoch_s: med('ours', 'epoch_s'),
  pytorch_epoch_s: med('pytorch', 'epoch_s'),
  ours_wall_s: med('ours', 'wall_s'),
  pytorch_wall_s: med('pytorch', 'wall_s'),
  ours_peak_rss_kb: med('ours', 'max_rss_kb'),
  pytorch_peak_rss_kb: med('pytorch', 'max_rss_kb'),
  step_ms: stepMs,
  steps_s: (stepMs * steps) / 1e3,
};
const s = result.summary;
s.speedup_epoch = s.pytorch_epoch_s / s.ours_epoch_s;
s.speedup_wall = s.pytorch_wall_s / s.ours_wall_s;
s.rss_ratio = s.ours_peak_rss_kb / s.pytorch_peak_rss_kb;
s.epoch_over_steps = s.ours_epoch_s / s.steps_s;
result.machine.loadavg_end = loadavg();

if (f.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`\n${result.machine.cpu}, ${f.threads} threads, ${f.preset}, ${trainImages} training images (${steps} steps of 64) + ${f.validationSize} validation + ${f.test} test, medians of ${f.repeats}`);
  console.log(table(['', 'epoch s', 'process s', 'train img/s', 'peak RSS MiB'], [
    ['densenet train', fix(s.ours_epoch_s, 1), fix(s.ours_wall_s, 1), fix(trainImages / s.ours_epoch_s, 1), mib(s.ours_peak_rss_kb)],
    ['PyTorch script', fix(s.pytorch_epoch_s, 1), fix(s.pytorch_wall_s, 1), fix(trainImages / s.pytorch_epoch_s, 1), mib(s.pytorch_peak_rss_kb)],
  ]));
  console.log(`ours ${fix(s.speedup_epoch)}× faster per epoch (${fix(s.speedup_wall)}× per process), ${fix(s.rss_ratio)}× the peak RSS; epoch / (train_bench step ${fix(stepMs, 0)} ms × ${steps}) = ${fix(s.epoch_over_steps)}`);
}
