#!/usr/bin/env node
// Side-by-side training benchmark: our training step (crates/densenet-cpu/examples/train_bench.rs,
// efficient and naive) against PyTorch (benches/torch_train.py, torchvision's DenseNet with
// memory_efficient False and True), same model, batch, threads and optimizer, alternating
// processes, each measured for peak RSS with GNU time. Medians over the repeats, ratios ours/PyTorch.
//
//   npm run bench:train -- [--steps 10] [--warmup 2] [--repeats 3] [--max-repeats 8] [--tolerance 0.1]
//                          [--threads N] [--batch 64] [--preset densenet-bc-100] [--json]
//                          [--no-memory] [--no-speed] [--no-build]
//
// A shared machine: every round runs each contender once, alternating the order; the load
// average is recorded before and after every process. Rounds go on past --repeats until, for
// every contender, the per-round (per-process median) images/s of the last --repeats rounds
// agree within --tolerance ((max − min) / median), or until --max-repeats rounds; the output
// says which. --json keeps every process's every step time (and our minor page faults per step).
//   npm run bench:train -- --render results.json     # print the tables of a saved --json result
//
// --memory (default on): also one process per configuration that runs ONE training step (no
// warm-up) and reports its peak RSS and the RSS before the step.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, parseFlags, median, spread, loadavg, runMeasured, buildExample, machine, table, mib, fix, haveGnuTime } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), {
  steps: 10, warmup: 2, repeats: 3, maxRepeats: 8, tolerance: 0.1, threads: os.availableParallelism(), batch: 64,
  preset: 'densenet-bc-100', json: false, memory: true, speed: true, build: true, render: '',
});
const log = (m) => process.stderr.write(m + '\n');

const CONFIGS = [
  { id: 'ours-efficient', label: 'ours, efficient', ours: true },
  { id: 'torch', label: 'PyTorch, memory_efficient=False', ours: false },
  { id: 'ours-naive', label: 'ours, naive', ours: true },
  { id: 'torch-me', label: 'PyTorch, memory_efficient=True', ours: false },
];
const PAIRS = [['ours-efficient', 'torch'], ['ours-efficient', 'torch-me'], ['ours-naive', 'torch'], ['ours-naive', 'torch-me']];
const label = (id) => CONFIGS.find((c) => c.id === id).label;

/** Medians, best steps, achieved GFLOP/s and ratios from the raw per-process runs. */
function summarize(result) {
  const batch = result.settings.batch;
  for (const c of CONFIGS) {
    const s = result.speed[c.id];
    if (!s) continue;
    const rs = s.runs;
    s.images_per_s = median(rs.map((o) => o.images_per_s));
    s.step_ms = median(rs.map((o) => o.step_ms));
    // The fastest single step of all processes: the one least disturbed by other load.
    s.best_step_ms = Math.min(...rs.map((o) => Math.min(...o.step_ms_all)));
    s.best_images_per_s = (batch * 1e3) / s.best_step_ms;
    s.max_rss_kb = median(rs.map((o) => o.max_rss_kb));
    const window = rs.slice(-(result.settings.repeats || rs.length)).map((o) => o.images_per_s);
    s.spread_last = spread(window);
    const faults = rs.filter((o) => o.minflt_all).map((o) => median(o.minflt_all));
    if (faults.length) s.minflt_per_step = median(faults);
    if (result.train_conv_gflop) {
      s.achieved_gflops = result.train_conv_gflop / (s.step_ms / 1e3);
      s.best_achieved_gflops = result.train_conv_gflop / (s.best_step_ms / 1e3);
    }
  }
  result.ratios = {};
  for (const [a, b] of PAIRS) {
    const r = (result.ratios[`${a}/${b}`] = {});
    if (result.speed[a] && result.speed[b]) {
      r.images_per_s = result.speed[a].images_per_s / result.speed[b].images_per_s;
      r.best_images_per_s = result.speed[a].best_images_per_s / result.speed[b].best_images_per_s;
      r.max_rss = result.speed[a].max_rss_kb / result.speed[b].max_rss_kb;
    }
    if (result.memory[a] && result.memory[b]) {
      r.one_step_peak_rss = result.memory[a].peak_rss_kb / result.memory[b].peak_rss_kb;
      r.one_step_delta = result.memory[a].step_delta_kb / result.memory[b].step_delta_kb;
    }
  }
  return result;
}

function print(result) {
  const s = result.settings;
  const info = result.machine;
  const hasSpeed = Object.keys(result.speed).length > 0;
  const hasMemory = Object.keys(result.memory).length > 0;
  console.log(`\n${s.preset}, batch ${s.batch}, f32, ${s.threads} threads; ${info.cpu} (${info.cpus} CPUs), ${info.date}; load avg at start ${info.loadavg.join(' ')}, at end ${(info.loadavg_end || []).join(' ')}`);
  if (hasSpeed) {
    console.log(`\nTraining speed: median of ${result.convergence?.rounds ?? s.repeats} processes × ${s.steps} timed steps (after ${s.warmup} warm-up); conv FLOPs per step ${fix(result.train_conv_gflop, 1)} GFLOP (3 × forward)\n`);
    console.log(table(['run', 'images/s', 'step ms', 'GFLOP/s', 'best step ms', 'best images/s', 'max RSS MiB'],
      CONFIGS.filter((c) => result.speed[c.id]).map((c) => {
        const r = result.speed[c.id];
        return [c.label, fix(r.images_per_s), fix(r.step_ms, 0), fix(r.achieved_gflops, 1), fix(r.best_step_ms, 0), fix(r.best_images_per_s), mib(r.max_rss_kb)];
      })));
    const conv = result.convergence;
    if (conv) {
      console.log(`\n${conv.rounds} rounds; spread (max − min)/median of the last ${s.repeats} rounds' images/s: ${CONFIGS.filter((c) => result.speed[c.id]).map((c) => `${c.label} ${fix(100 * result.speed[c.id].spread_last, 1)}%`).join(', ')}`);
      console.log(conv.converged ? `  all under ${fix(100 * conv.tolerance, 0)}%` : `  NOT all under ${fix(100 * conv.tolerance, 0)}% after ${conv.rounds} rounds (--max-repeats ${conv.max_rounds}): the medians above are less reliable`);
    }
    console.log('\nimages/s per process, in run order (load average 1 min before → after):');
    for (const c of CONFIGS) {
      if (!result.speed[c.id]) continue;
      const rs = result.speed[c.id].runs;
      console.log(`  ${c.label}: ${rs.map((o) => `${fix(o.images_per_s)} (${o.loadavg_before ? fix(o.loadavg_before[0], 1) + '→' : ''}${fix(o.loadavg[0], 1)})`).join(', ')}`);
      if (result.speed[c.id].minflt_per_step !== undefined) console.log(`    minor page faults per step (median): ${fix(result.speed[c.id].minflt_per_step, 0)}`);
    }
  }
  if (hasMemory) {
    console.log('\nPeak memory of one training step (a fresh process, no warm-up)\n');
    console.log(table(['run', 'peak RSS MiB', 'RSS before step MiB', 'step delta MiB'],
      CONFIGS.filter((c) => result.memory[c.id]).map((c) => { const r = result.memory[c.id]; return [c.label, mib(r.peak_rss_kb), mib(r.rss_before_kb), mib(r.step_delta_kb)]; })));
  }
  console.log('\nRatios ours / PyTorch (images/s: > 1 is faster; memory: < 1 is smaller)\n');
  const hdr = ['pair'];
  if (hasSpeed) hdr.push('images/s (median)', 'images/s (best step)', 'max RSS (speed runs)');
  if (hasMemory) hdr.push('one-step peak RSS', 'one-step delta');
  console.log(table(hdr, PAIRS.map(([a, b]) => {
    const r = result.ratios[`${a}/${b}`];
    const row = [`${label(a)} / ${label(b)}`];
    if (hasSpeed) row.push(fix(r.images_per_s), fix(r.best_images_per_s), fix(r.max_rss));
    if (hasMemory) row.push(fix(r.one_step_peak_rss), fix(r.one_step_delta));
    return row;
  })));
}

if (f.render) {
  print(summarize(JSON.parse(readFileSync(f.render, 'utf8'))));
  process.exit(0);
}

const bin = buildExample('train_bench', { build: f.build, log });
const py = process.env.PYTHON || 'python3';
const torchScript = path.join(ROOT, 'benches', 'torch_train.py');
const common = ['--preset', f.preset, '--batch', String(f.batch), '--threads', String(f.threads)];
const commands = {
  'ours-efficient': [bin, [...common, '--mode', 'efficient']],
  torch: [py, [torchScript, ...common]],
  'ours-naive': [bin, [...common, '--mode', 'naive']],
  'torch-me': [py, [torchScript, ...common, '--memory-efficient']],
};

const result = {
  benchmark: 'train_vs_pytorch',
  command: `npm run bench:train -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  gnuTime: haveGnuTime,
  settings: { preset: f.preset, batch: f.batch, threads: f.threads, steps: f.steps, warmup: f.warmup, repeats: f.repeats, max_repeats: f.maxRepeats, tolerance: f.tolerance, dtype: 'f32' },
  speed: {},
  memory: {},
};

if (f.speed) {
  for (const c of CONFIGS) result.speed[c.id] = { label: c.label, runs: [] };
  const maxRounds = Math.max(f.repeats, f.maxRepeats);
  let r = 0;
  let converged = false;
  while (r < maxRounds) {
    const order = r % 2 ? [...CONFIGS].reverse() : CONFIGS;
    for (const c of order) {
      const [cmd, args] = commands[c.id];
      const before = loadavg();
      const out = runMeasured(cmd, [...args, '--steps', String(f.steps), '--warmup', String(f.warmup)], { log });
      const after = loadavg();
      log(`  round ${r + 1} ${c.label}: ${fix(out.json.images_per_s)} images/s, step ${fix(out.json.step_ms, 0)} ms, max RSS ${mib(out.maxRssKb)} MiB, load ${before[0]} → ${after[0]}`);
      result.speed[c.id].runs.push({
        round: r + 1, images_per_s: out.json.images_per_s, step_ms: out.json.step_ms, step_ms_all: out.json.step_ms_all,
        ...(out.json.minflt_all ? { minflt_all: out.json.minflt_all } : {}),
        max_rss_kb: out.maxRssKb, wall_s: out.wallS, loadavg_before: before, loadavg: after,
      });
      if (c.ours) result.train_conv_gflop = out.json.train_conv_gflop;
    }
    r++;
    if (r >= f.repeats) {
      const spreads = CONFIGS.map((c) => spread(result.speed[c.id].runs.slice(-f.repeats).map((o) => o.images_per_s)));
      log(`  after ${r} rounds, spread of the last ${f.repeats}: ${spreads.map((x) => fix(100 * x, 1) + '%').join(', ')}`);
      if (spreads.every((x) => x < f.tolerance)) { converged = true; break; }
    }
  }
  result.convergence = { rounds: r, max_rounds: maxRounds, tolerance: f.tolerance, converged };
}

if (f.memory) {
  for (const c of CONFIGS) {
    const [cmd, args] = commands[c.id];
    const out = runMeasured(cmd, [...args, '--one-step'], { log });
    result.memory[c.id] = {
      label: c.label,
      peak_rss_kb: out.maxRssKb,
      vmhwm_kb: out.json.peak_rss_kb,
      rss_before_kb: out.json.rss_before_kb,
      step_delta_kb: out.maxRssKb - out.json.rss_before_kb,
      step_ms: out.json.step_ms,
    };
    log(`  one step ${c.label}: peak RSS ${mib(out.maxRssKb)} MiB (before the step ${mib(out.json.rss_before_kb)} MiB)`);
  }
}

result.machine.loadavg_end = loadavg();
summarize(result);
if (f.json) console.log(JSON.stringify(result, null, 2));
else print(result);
