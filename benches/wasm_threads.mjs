#!/usr/bin/env node
// The WASM build's training step on one thread against N threads (default: every core), in Node
// (child processes, DENSENET_WASM_THREADS) and in headless Chromium (Web Workers of the
// cross-origin-isolated test page served by scripts/demo.mjs), alternating 1 / N, on the same
// seeded data: DenseNet-BC-100 (k = 12) at 32², batch 16 by default. Prints the median step time
// of each, the speed-up, the load average, and checks that every run ends on the same weights.
//
//   npm run bench:wasm-threads -- [--repeats 3] [--steps 4] [--threads N] [--batch 16] [--depth 100] [--json]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { ROOT, machine, median, parseFlags } from './lib/common.mjs';
import { startDemoServer } from '../scripts/demo.mjs';

const f = parseFlags(process.argv.slice(2), { repeats: 3, steps: 4, threads: Math.min(64, os.availableParallelism()), batch: 16, depth: 100, json: false, browser: true });
const log = (m) => console.error(`bench: ${m}`);
const wasm = createRequire(import.meta.url)(path.join(ROOT, 'npm/wasm32/index.cjs'));
const config = JSON.parse(wasm.cifarConfig(f.depth, 12, true, 10));
const stepMs = (r) => median(r.ms.slice(1)); // the first step also allocates and packs

function nodeRun(threads) {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'benches/lib/wasm-train-steps.cjs'), JSON.stringify(config), String(f.batch), '32', String(f.steps)], { env: { ...process.env, DENSENET_WASM_THREADS: String(threads) }, encoding: 'utf8' });
  return JSON.parse(out);
}

async function browserRuns(order) {
  const { Browser, findChromium } = await import('../test/helpers/chromium.ts').catch(() => ({}));
  const chromium = findChromium?.();
  if (!chromium) {
    log('no Chromium (or run through tsx for test/helpers/chromium.ts): the browser rows are left out');
    return null;
  }
  const server = await startDemoServer(0);
  const browser = Browser.launch(chromium);
  try {
    const q = new URLSearchParams({ order: order.join(','), steps: String(f.steps), batch: String(f.batch), config: JSON.stringify(config) });
    const session = await browser.open(`${new URL(server.url).origin}/test/browser/wasm-threads.html?${q}`);
    for (;;) {
      try {
        const r = await browser.evaluate(session, 'location.protocol === "http:" && window.__result ? window.__result : Promise.resolve(null)');
        if (r) return r;
      } catch (err) {
        if (!/context was destroyed|Cannot find (default execution )?context/.test(String(err))) throw err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

const load = [os.loadavg()[0]];
const rows = { node: { 1: [], [f.threads]: [] }, chromium: { 1: [], [f.threads]: [] } };
const hashes = new Set();
for (let r = 0; r < f.repeats; r++) {
  for (const threads of r % 2 ? [f.threads, 1] : [1, f.threads]) {
    const out = nodeRun(threads);
    if (out.threads !== threads) throw new Error(`asked for ${threads} threads, the pool has ${out.threads}`);
    rows.node[threads].push(stepMs(out));
    hashes.add(out.weights);
    log(`node ${threads} thread(s): ${stepMs(out).toFixed(0)} ms/step`);
  }
  load.push(os.loadavg()[0]);
}
if (f.browser) {
  const order = [];
  for (let r = 0; r < f.repeats; r++) order.push(...(r % 2 ? [f.threads, 1] : [1, f.threads]));
  const res = await browserRuns(order);
  if (res) {
    for (const run of res.runs) {
      if (run.error) throw new Error(`chromium: ${run.error}`);
      rows.chromium[run.threads].push(stepMs(run));
      hashes.add(run.weights);
      log(`chromium ${run.threads} thread(s): ${stepMs(run).toFixed(0)} ms/step`);
    }
  }
  load.push(os.loadavg()[0]);
}
const summary = {};
for (const [where, byThreads] of Object.entries(rows)) {
  if (!byThreads[1].length) continue;
  const one = median(byThreads[1]);
  const many = median(byThreads[f.threads]);
  summary[where] = { oneThreadMs: one, threads: f.threads, manyThreadsMs: many, speedup: one / many, runs: byThreads };
}
const result = { bench: 'wasm-threads', config: `densenet-bc-${f.depth} k12 32² batch ${f.batch}`, steps: f.steps, repeats: f.repeats, sameWeights: hashes.size === 1, load, machine: machine(), summary };
if (f.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`WASM training step, ${result.config}, ${f.repeats} alternating repeats; ${result.machine.cpu ?? ''} load ${load.map((l) => l.toFixed(2)).join(' → ')}`);
  console.log('| where | 1 thread ms/step | threads | N threads ms/step | speed-up |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [where, s] of Object.entries(summary)) console.log(`| ${where} | ${s.oneThreadMs.toFixed(0)} | ${s.threads} | ${s.manyThreadsMs.toFixed(0)} | ${s.speedup.toFixed(2)}× |`);
  console.log(`same weights on every run: ${result.sameWeights}`);
}
if (!result.sameWeights) process.exit(1);
