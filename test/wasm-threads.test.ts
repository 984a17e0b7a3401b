/**
 * The WASM build's thread pool: in Node (worker_threads, DENSENET_WASM_THREADS) and in headless
 * Chromium (Web Workers in a cross-origin-isolated page, `init(source, { threads })`), training
 * on 1, 2 and 3 threads gives the same bits (weights after three steps and the logits after),
 * and the pool has the size asked for. Timings are logged, not asserted (CI machines are shared);
 * benches/wasm_threads.mjs measures them.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

import test from 'ava';

// @ts-expect-error -- a plain .mjs script without types
import { startDemoServer } from '../scripts/demo.mjs';
import { Browser, findChromium } from './helpers/chromium.js';
import { loadWasm, root } from './helpers/wasm.js';

const CONFIG = { growthRate: 12, blockConfig: [3, 3, 3], numInitFeatures: 24, bottleneck: true, bnSize: 4, compression: 0.5, dropRate: 0, numClasses: 10, inChannels: 3, smallInputs: true };

interface Trained {
  threads: number;
  ms: number[];
  weights: string;
  logits: string;
  error?: string;
}

/** Runs benches/lib/wasm-train-steps.cjs with DENSENET_WASM_THREADS=threads. */
function trainInChild(threads: string, steps = 3): Promise<{ out?: Trained; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const args = [join(root, 'benches/lib/wasm-train-steps.cjs'), JSON.stringify(CONFIG), '16', '32', String(steps)];
    execFile(process.execPath, args, { cwd: root, env: { ...process.env, DENSENET_WASM_THREADS: threads } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ out: code === 0 ? (JSON.parse(stdout) as Trained) : undefined, stderr, code });
    });
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('Node: 1, 2 and 3 WASM threads train to the same bits, on pools of that size', async (t) => {
  loadWasm();
  const runs: Trained[] = [];
  for (const threads of ['1', '2', '3']) {
    const r = await trainInChild(threads);
    t.is(r.code, 0, r.stderr);
    runs.push(r.out!);
  }
  t.deepEqual(runs.map((r) => r.threads), [1, 2, 3]);
  for (const r of runs.slice(1)) {
    t.is(r.weights, runs[0]!.weights, `weights after 3 steps on ${r.threads} threads`);
    t.is(r.logits, runs[0]!.logits, `logits on ${r.threads} threads`);
  }
  t.log(runs.map((r) => `${r.threads} thread(s): median step ${median(r.ms.slice(1)).toFixed(0)} ms`).join('; '));
});

test('Node: a DENSENET_WASM_THREADS that is not a thread count fails the load, naming the variable', async (t) => {
  loadWasm();
  for (const bad of ['0', 'two', '1.5', '999']) {
    const r = await trainInChild(bad, 1);
    t.not(r.code, 0, `DENSENET_WASM_THREADS=${bad}`);
    t.regex(r.stderr, /DENSENET_WASM_THREADS must be an integer in 1\.\.256, got '[^']*'/);
  }
});

test('Chromium: in a cross-origin-isolated page, workers on 1 and 2 WASM threads train to the same bits', async (t) => {
  loadWasm();
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium: install Debian's `chromium` (scripts/install-chromium.sh) or set CHROMIUM_PATH");
  const server = (await startDemoServer(0)) as { url: string; close: () => Promise<void> };
  t.teardown(() => server.close());
  const browser = Browser.launch(chromium);
  t.teardown(() => browser.close());
  const origin = new URL(server.url).origin;
  const session = await browser.open(`${origin}/test/browser/wasm-threads.html?threads=2`);
  let result: { crossOriginIsolated: boolean; runs: Trained[] } | null = null;
  const until = Date.now() + 180_000;
  while (!result) {
    try {
      result = (await browser.evaluate(session, 'location.protocol === "http:" && window.__result ? window.__result : Promise.resolve(null)')) as typeof result;
    } catch (err) {
      if (!/context was destroyed|Cannot find (default execution )?context/.test(String(err))) throw err;
    }
    if (!result) {
      if (Date.now() > until) throw new Error('the threads page did not produce a result in 180 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.true(result.crossOriginIsolated, 'the demo server sends COOP/COEP');
  for (const r of result.runs) t.is(r.error, undefined, r.error);
  t.deepEqual(result.runs.map((r) => r.threads), [1, 2]);
  t.is(result.runs[1]!.weights, result.runs[0]!.weights, 'weights after 3 steps');
  t.is(result.runs[1]!.logits, result.runs[0]!.logits, 'logits');
  t.log(result.runs.map((r) => `${r.threads} thread(s): median step ${median(r.ms.slice(1)).toFixed(0)} ms`).join('; '));
});
