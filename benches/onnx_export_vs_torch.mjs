#!/usr/bin/env node
// Our ONNX export against PyTorch's export of the same weights, both run in onnxruntime-node
// (benches/ort_infer.mjs, one process per measurement): torchvision's densenet121 with random
// weights is exported by benches/torch_infer.py (torch.onnx.export, opset 17, dynamic batch)
// together with its weights as safetensors; our side loads those weights (DenseNet.load) and
// writes them with model.exportOnnx (BatchNorms folded, the default). Rounds alternate which file
// runs first; the load average is recorded around every process. Also reports the largest
// relative difference between the two files' logits on one batch.
//
//   node benches/onnx_export_vs_torch.mjs [--batches 1,16] [--repeats 3] [--runs 8] [--threads 2] [--out result.json]
//
// PyTorch's interpreter (it needs the onnx and safetensors packages): $PYTHON, else python3.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, parseFlags, median, loadavg, machine } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), { batches: '1,16', repeats: 3, runs: 8, warmup: 2, threads: 2, out: '' });
const log = (m) => process.stderr.write(m + '\n');
const python = process.env.PYTHON || 'python3';
const dir = mkdtempSync(path.join(tmpdir(), 'densenet-onnx-bench-'));
const files = { torch: path.join(dir, 'torch.onnx'), ours: path.join(dir, 'ours.onnx') };
const weights = path.join(dir, 'weights.safetensors');
const tsx = ['--import', path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs')];

log('exporting with PyTorch ...');
execFileSync(python, [path.join(ROOT, 'benches/torch_infer.py'), '--preset', 'densenet121', '--export-onnx', files.torch, '--export-safetensors', weights], { stdio: ['ignore', 'ignore', 'inherit'] });
log('exporting with ours ...');
const ourExport = `
const { DenseNet } = await import(${JSON.stringify(path.join(ROOT, 'ts/index.ts'))});
const ort = await import('onnxruntime-node');
const model = await DenseNet.load(${JSON.stringify(weights)}, 'densenet121');
const info = await model.exportOnnx(${JSON.stringify(files.ours)}, { inputSize: [224, 224] });
const n = 2 * 3 * 224 * 224, x = new Float32Array(n);
for (let i = 0; i < n; i++) x[i] = Math.sin(i * 12.9898) * 0.5;
const run = async (file) => (await (await ort.InferenceSession.create(file)).run({ input: new ort.Tensor('float32', x, [2, 3, 224, 224]) })).logits.data;
const [a, b] = [await run(${JSON.stringify(files.ours)}), await run(${JSON.stringify(files.torch)})];
let d = 0, m = 0;
for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
console.log(JSON.stringify({ folded: info.foldedBatchNorms.length, nodes: info.nodeCount, relDiff: d / m }));
`;
const exported = JSON.parse(execFileSync(process.execPath, [...tsx, '--input-type=module', '-e', ourExport], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop());
log(`ours: ${exported.nodes} nodes, ${exported.folded} BatchNorms folded; logits vs PyTorch's export: ${exported.relDiff.toExponential(2)} relative`);

const runs = [];
for (let round = 0; round < f.repeats; round++) {
  for (const batch of String(f.batches).split(',').map(Number)) {
    const order = round % 2 === 0 ? ['ours', 'torch'] : ['torch', 'ours'];
    for (const impl of order) {
      const before = loadavg();
      const out = execFileSync(process.execPath, [path.join(ROOT, 'benches/ort_infer.mjs'), '--model', files[impl], '--batch', String(batch), '--runs', String(f.runs), '--warmup', String(f.warmup), '--threads', String(f.threads)], { cwd: ROOT, encoding: 'utf8' });
      const r = JSON.parse(out.trim().split('\n').pop());
      runs.push({ round, impl, batch, latency_ms: r.latency_ms, latency_ms_all: r.latency_ms_all, loadavg_before: before, loadavg_after: loadavg() });
      log(`round ${round + 1} batch ${batch} ${impl}: ${r.latency_ms.toFixed(1)} ms`);
    }
  }
}

const rows = [];
for (const batch of String(f.batches).split(',').map(Number)) {
  const med = (impl) => median(runs.filter((r) => r.impl === impl && r.batch === batch).map((r) => r.latency_ms));
  const [ours, torch] = [med('ours'), med('torch')];
  rows.push({ batch, ours_ms: ours, torch_ms: torch, torch_over_ours: torch / ours });
}
console.log('| batch | ORT on our export (ms) | ORT on PyTorch\'s export (ms) | PyTorch\'s / ours |\n|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.batch} | ${r.ours_ms.toFixed(1)} | ${r.torch_ms.toFixed(1)} | ${r.torch_over_ours.toFixed(3)}× |`);
const result = { benchmark: 'onnx_export_vs_torch', machine: machine(), settings: f, exported, rows, runs };
if (f.out) writeFileSync(f.out, JSON.stringify(result, null, 1));
