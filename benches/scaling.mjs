#!/usr/bin/env node
// Scaling curves, ours beside PyTorch (both memory modes): peak memory of one training step
// against depth, and training images/s and peak memory against batch size.
//
//   npm run bench:scaling -- [--depth densenet-bc-100:32:64,densenet-bc-190:32:64,densenet-bc-250:32:64,
//                               densenet121:224:8,densenet169:224:8,densenet201:224:8,densenet264:224:8]
//                            [--batches 1,2,4,8,16,32,64,128,256] [--batch-preset densenet-bc-100]
//                            [--steps 3] [--warmup 1] [--threads N] [--contenders ours-efficient,ours-naive,torch,torch-me]
//                            [--out benches/results/scaling.json] [--depth ''] [--no-batch] [--no-build]
//   npm run bench:scaling -- --render benches/results/scaling.json
//   npm run bench:plot    -- [--in benches/results/scaling.json] [--png docs/scaling.png]
//
// Depth grid: one process per (config, contender) running ONE training step (no warm-up): its
// peak RSS (GNU time) and the RSS before the step; the step delta is the step's own memory.
// Batch grid: one process per (batch, contender), --steps timed steps after --warmup, images/s
// (median step) and peak RSS. Contenders alternate within every grid point; the load average is
// recorded before and after every process. A failing process (e.g. out of memory) is recorded
// as such and the grid goes on.

import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, parseFlags, loadavg, runMeasured, buildExample, machine, table, mib, fix, haveGnuTime } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), {
  depth: 'densenet-bc-100:32:64,densenet-bc-190:32:64,densenet-bc-250:32:64,densenet121:224:8,densenet169:224:8,densenet201:224:8,densenet264:224:8',
  batches: '1,2,4,8,16,32,64,128,256', batchPreset: 'densenet-bc-100', steps: 3, warmup: 1,
  threads: os.availableParallelism(), contenders: 'ours-efficient,ours-naive,torch,torch-me',
  out: 'benches/results/scaling.json', render: '', build: true, batch: true,
});
const log = (m) => process.stderr.write(m + '\n');

export const CONTENDERS = {
  'ours-efficient': 'ours, efficient',
  'ours-naive': 'ours, naive',
  torch: 'PyTorch, memory_efficient=False',
  'torch-me': 'PyTorch, memory_efficient=True',
};

function print(result) {
  const m = result.machine;
  const ids = result.settings.contenders;
  console.log(`\n${m.cpu} (${m.cpus} CPUs), commit ${m.git}, ${m.date}; load avg at start ${m.loadavg.join(' ')}, at end ${(m.loadavg_end || []).join(' ')}; ${result.settings.threads} threads, f32`);
  const cell = (r, key) => (r ? (r.error ? 'failed' : key(r)) : '');
  if (result.depth.length) {
    console.log('\nPeak RSS of one training step (MiB; in parentheses the step delta: peak − RSS before the step)\n');
    console.log(table(['config', 'params', ...ids.map((id) => CONTENDERS[id])],
      result.depth.map((d) => [`${d.preset} ${d.size}² batch ${d.batch}`, d.params ?? '', ...ids.map((id) => cell(d.runs[id], (r) => `${mib(r.peak_rss_kb)} (${mib(r.step_delta_kb)})`))])));
  }
  if (result.batch.length) {
    console.log(`\nTraining images/s (median of ${result.settings.steps} steps after ${result.settings.warmup} warm-up) and peak RSS MiB, ${result.settings.batch_preset}\n`);
    console.log(table(['batch', ...ids.map((id) => `${CONTENDERS[id]} img/s`), ...ids.map((id) => `${CONTENDERS[id]} MiB`)],
      result.batch.map((b) => [b.batch, ...ids.map((id) => cell(b.runs[id], (r) => fix(r.images_per_s))), ...ids.map((id) => cell(b.runs[id], (r) => mib(r.peak_rss_kb)))])));
  }
}

if (f.render) {
  print(JSON.parse(readFileSync(f.render, 'utf8')));
  process.exit(0);
}

const ids = f.contenders.split(',').filter(Boolean);
for (const id of ids) if (!CONTENDERS[id]) throw new Error(`unknown contender ${id}; known: ${Object.keys(CONTENDERS).join(', ')}`);
const bin = buildExample('train_bench', { build: f.build, log });
const py = process.env.PYTHON || 'python3';
const torchScript = path.join(ROOT, 'benches', 'torch_train.py');
function command(id, preset, size, batch) {
  const common = ['--preset', preset, '--batch', String(batch), '--size', String(size), '--threads', String(f.threads)];
  switch (id) {
    case 'ours-efficient': return [bin, [...common, '--mode', 'efficient']];
    case 'ours-naive': return [bin, [...common, '--mode', 'naive']];
    case 'torch': return [py, [torchScript, ...common]];
    case 'torch-me': return [py, [torchScript, ...common, '--memory-efficient']];
  }
  throw new Error(id);
}

/** One process; its JSON, GNU time's max RSS and the load around it, or the error. */
function run(id, preset, size, batch, extra) {
  const [cmd, args] = command(id, preset, size, batch);
  const before = loadavg();
  try {
    const out = runMeasured(cmd, [...args, ...extra], { log });
    return { json: out.json, peak_rss_kb: out.maxRssKb, wall_s: out.wallS, loadavg_before: before, loadavg: loadavg() };
  } catch (e) {
    log(`  ${id} failed: ${String(e.message).split('\n')[0]}`);
    return { error: String(e.message).slice(0, 500), loadavg_before: before, loadavg: loadavg() };
  }
}

const result = {
  benchmark: 'scaling',
  command: `npm run bench:scaling -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  gnuTime: haveGnuTime,
  settings: { contenders: ids, threads: f.threads, steps: f.steps, warmup: f.warmup, batch_preset: f.batchPreset, dtype: 'f32' },
  depth: [],
  batch: [],
};

const depthGrid = f.depth ? f.depth.split(',').filter(Boolean) : [];
for (const [i, spec] of depthGrid.entries()) {
  const [preset, size, batch] = spec.split(':');
  const point = { preset, size: Number(size), batch: Number(batch), runs: {} };
  const order = i % 2 ? [...ids].reverse() : ids;
  for (const id of order) {
    const r = run(id, preset, point.size, point.batch, ['--one-step']);
    if (!r.error) {
      point.params = r.json.params;
      r.rss_before_kb = r.json.rss_before_kb;
      r.step_delta_kb = r.peak_rss_kb - r.json.rss_before_kb;
      r.step_ms = r.json.step_ms;
      delete r.json;
      log(`  ${preset} ${size}² b${batch} ${CONTENDERS[id]}: peak ${mib(r.peak_rss_kb)} MiB (delta ${mib(r.step_delta_kb)}), load ${r.loadavg_before[0]} → ${r.loadavg[0]}`);
    }
    point.runs[id] = r;
  }
  result.depth.push(point);
}

if (f.batch) {
  const batches = f.batches.split(',').filter(Boolean).map(Number);
  const preset = f.batchPreset;
  const size = preset.startsWith('densenet-') ? 32 : 224;
  for (const [i, batch] of batches.entries()) {
    const point = { batch, runs: {} };
    const order = i % 2 ? [...ids].reverse() : ids;
    for (const id of order) {
      const r = run(id, preset, size, batch, ['--steps', String(f.steps), '--warmup', String(f.warmup)]);
      if (!r.error) {
        Object.assign(r, { images_per_s: r.json.images_per_s, step_ms: r.json.step_ms, step_ms_all: r.json.step_ms_all });
        if (r.json.minflt_all) r.minflt_all = r.json.minflt_all;
        delete r.json;
        log(`  batch ${batch} ${CONTENDERS[id]}: ${fix(r.images_per_s)} images/s, peak ${mib(r.peak_rss_kb)} MiB, load ${r.loadavg_before[0]} → ${r.loadavg[0]}`);
      }
      point.runs[id] = r;
    }
    result.batch.push(point);
  }
}

result.machine.loadavg_end = loadavg();
const out = path.resolve(ROOT, f.out);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
log(`wrote ${path.relative(ROOT, out)}`);
print(result);
