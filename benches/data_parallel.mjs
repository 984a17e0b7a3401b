#!/usr/bin/env node
// Data-parallel throughput: training steps of a preset on random 32×32 images, one process or
// one rank of an mpirun job (the global batch is split between the ranks). Rank 0 prints one JSON
// line: images per second over the timed steps (warm-up excluded), the wall time of each step.
//
//   node benches/data_parallel.mjs --threads 2                          # 1 process × 2 threads
//   mpirun -np 2 node benches/data_parallel.mjs --threads 1             # 2 processes × 1 thread
//   [--preset densenet-bc-100] [--batch 64] [--steps 10] [--warmup 2] [--sync-bn]
//
// Uses dist/ (npm run build:ts) and the addons in native/ (the -mpi one under mpirun).
import { DenseNet, distributedWorld, shardRange } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const preset = flag('preset', 'densenet-bc-100');
const batch = Number(flag('batch', '64'));
const steps = Number(flag('steps', '10'));
const warmup = Number(flag('warmup', '2'));
const threads = Number(flag('threads', '1'));
const syncBatchNorm = args.includes('--sync-bn');

const world = distributedWorld();
const [lo, hi] = world ? shardRange(batch, world) : [0, batch];
const n = hi - lo;
const plane = 3 * 32 * 32;
const model = DenseNet.create(preset, { seed: 1 });
model.setThreads(threads);
let s = 12345;
const images = new Float32Array(n * plane).map(() => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + lo) % 10);
const options = world ? { distributed: { syncBatchNorm } } : {};
const times = [];
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  await model.trainStep(images, [n, 3, 32, 32], labels, options);
  if (i >= warmup) times.push(performance.now() - t0);
}
if (!world || world.rank === 0) {
  const total = times.reduce((a, b) => a + b, 0) / 1000;
  console.log(
    JSON.stringify({
      preset,
      globalBatch: batch,
      processes: world?.size ?? 1,
      threadsPerProcess: threads,
      syncBatchNorm,
      steps,
      imagesPerSecond: Math.round(((batch * steps) / total) * 10) / 10,
      stepMs: times.map((t) => Math.round(t)),
    }),
  );
}
