#!/usr/bin/env node
// WASM vs native, one thread each, in one process, alternating: a densenet-bc-100 training step
// (f32, 32×32, batch 64 by default) and densenet121 inference (f32, 224×224, batch 1). The native
// addon runs its gemm with AVX-512/AVX2 (run-time dispatch), the WASM build with SIMD128.
// `--avx2 FILE` adds a native addon built without AVX-512 kernels (cargo build --release -p
// densenet-node --no-default-features), for a comparison at a closer vector width.
//
//   npm run bench:wasm -- [--runs 3] [--train-batch 64] [--infer-batch 1] [--avx2 FILE]
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg('runs', 3);
const avx2Index = process.argv.indexOf('--avx2');
const avx2 = avx2Index > 0 ? process.argv[avx2Index + 1] : null;
const trainBatch = arg('train-batch', 64);
const inferBatch = arg('infer-batch', 1);

const builds = {
  'native (AVX-512)': require(join(root, 'native', `densenet.${process.platform}-${process.arch}-gnu.node`)),
  ...(avx2 ? { 'native (AVX2)': require(avx2) } : {}),
  wasm: require(join(root, 'npm', 'wasm32', 'index.cjs')),
};
if (!builds.wasm.gemmSimd128()) throw new Error('the WASM build runs gemm without SIMD128');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const cases = [];
for (const [name, b] of Object.entries(builds)) {
  const train = new b.NativeModel(b.presetConfig('densenet-bc-100'), 'f32', 1);
  train.setThreads(1);
  const xt = new Float32Array(trainBatch * 3 * 32 * 32).map((_, i) => Math.sin(i));
  const yt = new Int32Array(trainBatch).map((_, i) => i % 10);
  const infer = new b.NativeModel(b.presetConfig('densenet121'), 'f32', 1);
  infer.setThreads(1);
  const xi = new Float32Array(inferBatch * 3 * 224 * 224).map((_, i) => Math.cos(i));
  cases.push({ name, train: () => train.trainStep(xt, [trainBatch, 3, 32, 32], yt), infer: () => infer.predict(xi, [inferBatch, 3, 224, 224]), t: [], i: [] });
}
for (const c of cases) {
  await c.train(); // warm-up: allocations, first-use paths
  await c.infer();
}
for (let r = 0; r < runs; r++) {
  for (const c of cases) {
    c.t.push(await time(c.train));
    c.i.push(await time(c.infer));
  }
}
const cpu = /Model name:\s*(.*)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1] ?? os.cpus()[0]?.model;
const wasm = cases.at(-1);
console.log(`${cpu}; one thread each, median of ${runs} alternating runs (ms); node ${process.version}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`| | ${cases.map((c) => c.name).join(' | ')} | ${cases.slice(0, -1).map((c) => `wasm / ${c.name}`).join(' | ')} |`);
console.log(`|---|${cases.map(() => '---|').join('')}${cases.slice(0, -1).map(() => '---|').join('')}`);
for (const [label, key] of [[`densenet-bc-100 train step, batch ${trainBatch}, 32²`, 't'], [`densenet121 predict, batch ${inferBatch}, 224²`, 'i']]) {
  const cells = cases.map((c) => median(c[key]).toFixed(0));
  const ratios = cases.slice(0, -1).map((c) => `${(median(c[key]) / median(wasm[key])).toFixed(2)}×`);
  console.log(`| ${label} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
}
