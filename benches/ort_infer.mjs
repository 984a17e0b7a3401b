// onnxruntime-node side of benches/infer_vs_pytorch.mjs: runs an ONNX model (exported by
// benches/torch_infer.py --export-onnx) on random input and prints one JSON line like
// crates/densenet-cpu/examples/infer_bench.rs.
//
//   node benches/ort_infer.mjs --model FILE.onnx [--ort-module PATH] [--batch 1] [--size 224] [--runs 8] [--warmup 2] [--threads N]

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseFlags, median } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), {
  model: '', batch: 1, size: 224, runs: 8, warmup: 2, threads: os.availableParallelism(), ortModule: '',
});
// --ort-module: the resolved entry of an onnxruntime-node installed outside the project.
const mod = await import(f.ortModule ? pathToFileURL(f.ortModule).href : 'onnxruntime-node');
const ort = mod.InferenceSession ? mod : mod.default;

function statusKb(field) {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(field));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

const session = await ort.InferenceSession.create(f.model, {
  intraOpNumThreads: f.threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const n = f.batch * 3 * f.size * f.size;
const data = new Float32Array(n);
for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [f.batch, 3, f.size, f.size]) };
for (let i = 0; i < f.warmup; i++) await session.run(feeds);
const rssBefore = statusKb('VmRSS:');
const times = [];
for (let i = 0; i < f.runs; i++) {
  const t = performance.now();
  await session.run(feeds);
  times.push(performance.now() - t);
}
const lat = median(times);
console.log(JSON.stringify({
  impl: 'onnxruntime-node',
  batch: f.batch,
  size: f.size,
  threads: f.threads,
  warmup: f.warmup,
  runs: f.runs,
  latency_ms: lat,
  latency_ms_min: Math.min(...times),
  latency_ms_all: times,
  images_per_s: (f.batch * 1e3) / lat,
  rss_before_kb: rssBefore,
  peak_rss_kb: statusKb('VmHWM:'),
  ort: ort.env.versions?.common ?? null,
}));
