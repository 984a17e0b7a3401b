#!/usr/bin/env node
// Side-by-side inference benchmark: densenet121 at 224×224, batch 1 and 16, f32 — ours
// (crates/densenet-cpu/examples/infer_bench.rs, predict), PyTorch eval under
// torch.inference_mode (benches/torch_infer.py) and onnxruntime-node on the ONNX export of the
// same PyTorch model (benches/ort_infer.mjs), alternating processes, peak RSS by GNU time.
//
//   npm run bench:infer -- [--runs 8] [--warmup 2] [--repeats 3] [--threads N] [--batches 1,16]
//                          [--preset densenet121] [--size 224] [--json] [--no-ort] [--no-build]
//   npm run bench:infer -- --render results.json     # print the tables of a saved --json result
//
// onnxruntime-node is not a dependency of the project: when `import('onnxruntime-node')` fails,
// the script installs onnxruntime-node@1.30.0 on demand into a cache folder outside the repo
// (~/.cache/densenet-sdk-bench, npm with --ignore-scripts: the CPU binaries ship inside the
// package, the install script only fetches GPU extras). The ONNX export needs the Python `onnx`
// package (pip install onnx). When either fails, the ORT rows are left out and the reason printed.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, parseFlags, median, runMeasured, buildExample, machine, table, mib, fix, haveGnuTime } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), {
  runs: 8, warmup: 2, repeats: 3, threads: os.availableParallelism(), batches: '1,16',
  preset: 'densenet121', size: 224, json: false, ort: true, build: true, render: '',
});
const log = (m) => process.stderr.write(m + '\n');
const ORT_VERSION = '1.30.0';
const LABELS = { ours: 'ours', torch: 'PyTorch eval', ort: 'onnxruntime-node' };

function summarize(result) {
  for (const res of Object.values(result.results)) {
    for (const r of Object.values(res)) {
      r.images_per_s = median(r.runs.map((o) => o.images_per_s));
      r.latency_ms = median(r.runs.map((o) => o.latency_ms));
      r.best_latency_ms = Math.min(...r.runs.map((o) => Math.min(...o.latency_ms_all)));
      r.max_rss_kb = median(r.runs.map((o) => o.max_rss_kb));
    }
    for (const r of Object.values(res)) {
      r.speed_ratio_ours_over_this = res.ours.images_per_s / r.images_per_s;
      r.best_speed_ratio_ours_over_this = r.best_latency_ms / res.ours.best_latency_ms;
      r.rss_ratio_ours_over_this = res.ours.max_rss_kb / r.max_rss_kb;
    }
  }
  return result;
}

function print(result) {
  const s = result.settings;
  const info = result.machine;
  console.log(`\n${s.preset} ${s.size}x${s.size} inference, f32, ${s.threads} threads; ${info.cpu} (${info.cpus} CPUs), ${info.date}; load avg at start ${info.loadavg.join(' ')}, at end ${(info.loadavg_end || []).join(' ')}`);
  console.log(`median of ${s.repeats} processes × ${s.runs} timed runs (after ${s.warmup} warm-up); best = fastest single run`);
  if (!result.ort.available) console.log(`onnxruntime-node: not measured (${result.ort.reason})`);
  console.log('');
  const rows = [];
  for (const [key, res] of Object.entries(result.results)) {
    for (const [id, r] of Object.entries(res)) {
      rows.push([`${key.replace('batch', 'batch ')}, ${LABELS[id]}`, fix(r.images_per_s), fix(r.latency_ms, 1), fix(r.best_latency_ms, 1), mib(r.max_rss_kb),
        fix(r.speed_ratio_ours_over_this), fix(r.best_speed_ratio_ours_over_this), fix(r.rss_ratio_ours_over_this)]);
    }
  }
  console.log(table(['run', 'images/s', 'latency ms', 'best ms', 'max RSS MiB', 'speed ours/this', 'best speed ours/this', 'RSS ours/this'], rows));
}

if (f.render) {
  print(summarize(JSON.parse(readFileSync(f.render, 'utf8'))));
  process.exit(0);
}

const batches = String(f.batches).split(',').map(Number);
const bin = buildExample('infer_bench', { build: f.build, log });
const py = process.env.PYTHON || 'python3';
const torchScript = path.join(ROOT, 'benches', 'torch_infer.py');
const common = ['--preset', f.preset, '--size', String(f.size), '--threads', String(f.threads), '--runs', String(f.runs), '--warmup', String(f.warmup)];

const result = {
  benchmark: 'infer_vs_pytorch',
  command: `npm run bench:infer -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  gnuTime: haveGnuTime,
  settings: { preset: f.preset, size: f.size, batches, threads: f.threads, runs: f.runs, warmup: f.warmup, repeats: f.repeats, dtype: 'f32' },
  ort: { available: false, reason: 'disabled (--no-ort)' },
  results: {},
};

/** Resolves onnxruntime-node: the project's node_modules if present, else a cached on-demand install. */
async function resolveOrt() {
  try {
    const local = createRequire(import.meta.url).resolve('onnxruntime-node');
    await import(pathToFileURL(local).href);
    return local;
  } catch {}
  const dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'densenet-sdk-bench', `onnxruntime-node-${ORT_VERSION}`);
  const req = createRequire(path.join(dir, 'noop.js'));
  let entry = null;
  try { entry = req.resolve('onnxruntime-node'); } catch {}
  if (!entry) {
    log(`installing onnxruntime-node@${ORT_VERSION} into ${dir} (npm --ignore-scripts)`);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `onnxruntime-node@${ORT_VERSION}`],
      { env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`npm install onnxruntime-node@${ORT_VERSION} failed`);
    entry = req.resolve('onnxruntime-node');
  }
  await import(pathToFileURL(entry).href);
  return entry;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'densenet-bench-'));
let onnxFile = null;
let ortEntry = null;
if (f.ort) {
  try {
    ortEntry = await resolveOrt();
    onnxFile = path.join(tmp, `${f.preset}.onnx`);
    runMeasured(py, [torchScript, '--preset', f.preset, '--size', String(f.size), '--export-onnx', onnxFile], { log });
    result.ort = { available: true, version: ORT_VERSION, module: ortEntry };
  } catch (e) {
    onnxFile = null;
    result.ort = { available: false, reason: String(e.message || e).split('\n').slice(-3).join(' ').slice(0, 400) };
    log(`onnxruntime-node unavailable: ${result.ort.reason}`);
  }
}

const impls = [
  { id: 'ours', cmd: bin, args: (b) => [...common, '--batch', String(b)] },
  { id: 'torch', cmd: py, args: (b) => [torchScript, ...common, '--batch', String(b)] },
];
if (onnxFile) {
  impls.push({ id: 'ort', cmd: process.execPath, args: (b) => [path.join(ROOT, 'benches', 'ort_infer.mjs'), '--ort-module', ortEntry, '--model', onnxFile, '--size', String(f.size), '--threads', String(f.threads), '--runs', String(f.runs), '--warmup', String(f.warmup), '--batch', String(b)] });
}

try {
  for (const b of batches) {
    const res = Object.fromEntries(impls.map((i) => [i.id, { label: LABELS[i.id], runs: [] }]));
    for (let r = 0; r < f.repeats; r++) {
      const order = r % 2 ? [...impls].reverse() : impls;
      for (const i of order) {
        const out = runMeasured(i.cmd, i.args(b), { log });
        log(`  batch ${b} repeat ${r + 1}/${f.repeats} ${LABELS[i.id]}: ${fix(out.json.images_per_s)} images/s, ${fix(out.json.latency_ms, 1)} ms, max RSS ${mib(out.maxRssKb)} MiB`);
        res[i.id].runs.push({
          images_per_s: out.json.images_per_s, latency_ms: out.json.latency_ms, latency_ms_all: out.json.latency_ms_all,
          max_rss_kb: out.maxRssKb, loadavg: os.loadavg().map((v) => +v.toFixed(2)),
        });
      }
    }
    result.results[`batch${b}`] = res;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

result.machine.loadavg_end = os.loadavg().map((v) => +v.toFixed(2));
summarize(result);
if (f.json) console.log(JSON.stringify(result, null, 2));
else print(result);
