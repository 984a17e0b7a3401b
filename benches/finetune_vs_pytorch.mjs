#!/usr/bin/env node
// Fine-tuning speed side by side (issue #23 item 4): densenet121, f32, one batch of random
// input (the same for every mode), our SDK (ts/, through tsx, in a child process) against
// PyTorch (benches/torch_finetune.py, torchvision.models.densenet121), same threads and SGD
// (lr 0.1, momentum 0.9, Nesterov, weight decay 1e-4). Modes, each on a fresh model (seed 0):
//
//   infer      inference pass of the batch      ours: model.predict   PyTorch: eval() + no_grad()
//   full       a full training step             ours: model.trainStep PyTorch: train()
//   features   features frozen, classifier trains  ours: freeze('features') (frozen BN: 'eval')
//                                              PyTorch: features.requires_grad_(False) + features.eval()
//   blocks123  stem, block1–3 and transition1–3 frozen; block4, norm5 and the classifier train
//
// Each mode: --warmup untimed steps, then the median of --steps timed steps. Rounds alternate the
// order of the two processes (ours first in odd rounds); the load average is recorded before
// and after each process; the table shows medians over the rounds of the per-process medians.
//
//   node benches/finetune_vs_pytorch.mjs [--repeats 2] [--steps 3] [--warmup 1] [--threads 2]
//                                        [--batch 32] [--size 224] [--json] [--out result.json]
//
// PyTorch's interpreter: $PYTHON, else /work/torchenv/bin/python when present, else python3.
// (--worker ours: the child process that runs our side; not for direct use.)

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, parseFlags, median, loadavg, runMeasured, machine, table, mib, fix } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), {
  repeats: 2, steps: 3, warmup: 1, threads: 2, batch: 32, size: 224, json: false, out: '', worker: '', modes: 'infer,full,features,blocks123',
});
const MODES = [
  { id: 'infer', label: 'inference pass (predict / eval+no_grad)' },
  { id: 'full', label: 'full training step' },
  { id: 'features', label: 'features frozen (classifier trains)' },
  { id: 'blocks123', label: 'stem + blocks 1–3 frozen' },
];
const FREEZE = {
  full: null,
  features: 'features',
  blocks123: ['stem', 'block1', 'transition1', 'block2', 'transition2', 'block3', 'transition3'],
};

/** Deterministic uniform [-1, 1) input and labels in [0, 1000) (xorshift32). */
function randomBatch(n, size, seed = 1) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
  const images = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < images.length; i++) images[i] = next() * 2 - 1;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(next() * 1000);
  return { images, labels };
}

async function worker() {
  const { DenseNet } = await import(path.join(ROOT, 'ts', 'index.ts'));
  const shape = [f.batch, 3, f.size, f.size];
  const { images, labels } = randomBatch(f.batch, f.size);
  const out = { impl: 'ours', threads: f.threads, batch: f.batch, size: f.size, steps: f.steps, warmup: f.warmup, modes: {} };
  for (const mode of f.modes.split(',')) {
    const model = DenseNet.create('densenet121', { seed: 0 });
    model.setThreads(f.threads);
    let step;
    if (mode === 'infer') {
      step = async () => (await model.predict(images, shape)).row(0)[0];
    } else {
      if (FREEZE[mode]) model.freeze(FREEZE[mode]);
      model.setOptimizer({ lr: 0.1 });
      out.frozenBatchNorm = model.frozenBatchNorm;
      step = async () => (await model.trainStep(images, shape, labels)).loss;
    }
    for (let i = 0; i < f.warmup; i++) await step();
    const times = [];
    let last = NaN;
    for (let i = 0; i < f.steps; i++) {
      const t = performance.now();
      last = await step();
      times.push(performance.now() - t);
    }
    out.modes[mode] = { step_ms: median(times), step_ms_all: times, last, trainable_params: model.trainableParameterCount };
    await model.dispose();
  }
  console.log(JSON.stringify(out));
}

if (f.worker === 'ours') {
  await worker();
  process.exit(0);
}

const log = (m) => process.stderr.write(m + '\n');
const self = fileURLToPath(import.meta.url);
const py = process.env.PYTHON || (existsSync('/work/torchenv/bin/python') ? '/work/torchenv/bin/python' : 'python3');
const common = ['--steps', String(f.steps), '--warmup', String(f.warmup), '--threads', String(f.threads), '--batch', String(f.batch), '--size', String(f.size), '--modes', f.modes];
const IMPLS = {
  ours: { label: 'ours', cmd: process.execPath, args: ['--import', 'tsx', self, '--worker', 'ours', ...common] },
  torch: { label: 'PyTorch', cmd: py, args: [path.join(ROOT, 'benches', 'torch_finetune.py'), ...common] },
};
const modes = MODES.filter((m) => f.modes.split(',').includes(m.id));

const result = {
  benchmark: 'finetune_vs_pytorch',
  command: `node benches/finetune_vs_pytorch.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  settings: { model: 'densenet121', dtype: 'f32', batch: f.batch, size: f.size, threads: f.threads, steps: f.steps, warmup: f.warmup, repeats: f.repeats },
  runs: { ours: [], torch: [] },
};
for (let r = 0; r < f.repeats; r++) {
  for (const id of r % 2 ? ['torch', 'ours'] : ['ours', 'torch']) {
    const { cmd, args, label } = IMPLS[id];
    const before = loadavg();
    const o = runMeasured(cmd, args, { log });
    const after = loadavg();
    result.runs[id].push({ round: r + 1, ...o.json, max_rss_kb: o.maxRssKb, wall_s: o.wallS, loadavg_before: before, loadavg_after: after });
    if (id === 'torch') result.versions = { torch: o.json.torch, torchvision: o.json.torchvision };
    log(`  round ${r + 1} ${label}: ${modes.map((m) => `${m.id} ${fix(o.json.modes[m.id].step_ms, 0)} ms`).join(', ')}; wall ${fix(o.wallS, 0)} s; load ${before[0]} → ${after[0]}`);
  }
}
result.machine.loadavg_end = loadavg();

// Medians over rounds of the per-process medians.
const med = {};
for (const id of ['ours', 'torch']) {
  med[id] = {};
  for (const m of modes) med[id][m.id] = median(result.runs[id].map((o) => o.modes[m.id].step_ms));
}
result.median_step_ms = med;
const rel = (id, a, b) => med[id][a] / med[id][b];
result.derived = Object.fromEntries(['ours', 'torch'].map((id) => [id, {
  features_over_infer: rel(id, 'features', 'infer'),
  blocks123_over_full: rel(id, 'blocks123', 'full'),
}]));

if (f.out) writeFileSync(f.out, JSON.stringify(result, null, 2) + '\n');
if (f.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const s = result.settings;
  const info = result.machine;
  console.log(`\ndensenet121, ${s.size}×${s.size}, batch ${s.batch}, f32, ${s.threads} threads; ${info.cpu} (${info.cpus} CPUs), commit ${info.git}, ${info.date}`);
  console.log(`PyTorch ${result.versions?.torch}, torchvision ${result.versions?.torchvision}; median over ${s.repeats} rounds of each process's median of ${s.steps} timed steps (after ${s.warmup} warm-up)\n`);
  console.log(table(['mode', 'ours ms/step', 'PyTorch ms/step', 'ours / PyTorch (time)'],
    modes.map((m) => [m.label, fix(med.ours[m.id], 0), fix(med.torch[m.id], 0), fix(med.ours[m.id] / med.torch[m.id])])));
  console.log('\nWithin each implementation\n');
  console.log(table(['ratio', 'ours', 'PyTorch'], [
    ['features-frozen step / inference pass', `${fix(result.derived.ours.features_over_infer)}×`, `${fix(result.derived.torch.features_over_infer)}×`],
    ['blocks-1–3-frozen step / full step', fix(result.derived.ours.blocks123_over_full), fix(result.derived.torch.blocks123_over_full)],
  ]));
  console.log('\nPer process, in run order (ms per mode; load average 1 min before → after; max RSS):');
  for (const id of ['ours', 'torch']) {
    for (const o of result.runs[id]) {
      console.log(`  round ${o.round} ${IMPLS[id].label}: ${modes.map((m) => `${m.id} ${o.modes[m.id].step_ms_all.map((t) => fix(t, 0)).join('/')}`).join(', ')}; load ${o.loadavg_before.join(' ')} → ${o.loadavg_after.join(' ')}; ${mib(o.max_rss_kb)} MiB`);
    }
  }
  console.log(`\nload average at start ${info.loadavg.join(' ')}, at end ${info.loadavg_end.join(' ')}`);
}
