#!/usr/bin/env node
// WASM vs native, one thread each, in one process, alternating: a densenet-bc-100 training step
// (f32, 32×32, batch 64 by default) and densenet121 inference (f32, 224×224, batch 1). The native
// addon runs its gemm with AVX-512/AVX2 (run-time dispatch), the WASM build with SIMD128.
//
//   npm run bench:wasm -- [--runs 3] [--train-batch 64] [--infer-batch 1]
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
const trainBatch = arg('train-batch', 64);
const inferBatch = arg('infer-batch', 1);

const builds = {
  native: require(join(root, 'native', `densenet.${process.platform}-${process.arch}-gnu.node`)),
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
const [nat, wasm] = cases;
console.log(`one thread each, median of ${runs} (ms); node ${process.version}`);
console.log(`| | native | wasm | wasm / native speed |`);
console.log(`|---|---|---|---|`);
console.log(`| densenet-bc-100 train step, batch ${trainBatch}, 32² | ${median(nat.t).toFixed(0)} | ${median(wasm.t).toFixed(0)} | ${(median(nat.t) / median(wasm.t)).toFixed(2)}× |`);
console.log(`| densenet121 predict, batch ${inferBatch}, 224² | ${median(nat.i).toFixed(0)} | ${median(wasm.i).toFixed(0)} | ${(median(nat.i) / median(wasm.i)).toFixed(2)}× |`);
