#!/usr/bin/env node
// WASM inference against onnxruntime-web's WASM backend on the same weights, in one Node process,
// alternating: densenet121 (torchvision, seeded) exported by benches/torch_infer.py to ONNX and
// to safetensors; our WASM build (one thread, SIMD128) and onnxruntime-web (numThreads 1, its
// SIMD build) each run batch N at 224², f32. Prints medians, the speed ratio and the load
// average, and checks that both give the same logits (max relative difference).
//
//   npm run bench:wasm-ort -- [--runs 7] [--batch 1] [--json]
//
// onnxruntime-web is a pinned devDependency (also used by the ONNX browser example). The export
// needs PyTorch, onnx and safetensors (pip).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { ROOT, parseFlags, median, machine } from './lib/common.mjs';

const f = parseFlags(process.argv.slice(2), { runs: 7, batch: 1, json: false, preset: 'densenet121' });
const log = (m) => console.error(`bench: ${m}`);

/** onnxruntime-web (a pinned devDependency), its Node entry. */
async function ortWeb() {
  const mod = await import('onnxruntime-web');
  return mod.InferenceSession ? mod : mod.default;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'densenet-ortweb-'));
try {
  const onnxFile = path.join(tmp, `${f.preset}.onnx`);
  const stFile = path.join(tmp, `${f.preset}.safetensors`);
  log(`exporting ${f.preset} (torchvision, seed 0) to ONNX and safetensors`);
  const py = process.env.PYTHON || 'python3';
  const ex = spawnSync(py, [path.join(ROOT, 'benches/torch_infer.py'), '--preset', f.preset, '--export-onnx', onnxFile, '--export-safetensors', stFile], { encoding: 'utf8' });
  if (ex.status !== 0) throw new Error(`export failed:\n${ex.stderr}`);

  const ort = await ortWeb();
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  const session = await ort.InferenceSession.create(readFileSync(onnxFile), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });

  const wasm = createRequire(import.meta.url)(path.join(ROOT, 'npm/wasm32/index.cjs'));
  if (!wasm.gemmSimd128()) throw new Error('the WASM build runs gemm without SIMD128');
  const model = new wasm.NativeModel(wasm.presetConfig(f.preset), 'f32', 0);
  model.loadWeightsBytes(readFileSync(stFile), stFile);

  const shape = [f.batch, 3, 224, 224];
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 12.9898) * 0.5;
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, shape) };
  const contenders = [
    { id: 'ours (WASM)', run: () => model.predict(x, shape) },
    { id: `onnxruntime-web ${ort.env.versions?.web ?? ''} (wasm)`, run: async () => (await session.run(feeds))[session.outputNames[0]].data },
  ];
  // Same weights, same answer.
  const [a, b] = [await contenders[0].run(), await contenders[1].run()];
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  const logitsRelDiff = num / den;
  const times = contenders.map(() => []);
  const load = [os.loadavg()[0]];
  for (let r = 0; r < f.runs; r++) {
    const order = r % 2 ? [1, 0] : [0, 1];
    for (const k of order) {
      const t0 = performance.now();
      await contenders[k].run();
      times[k].push(performance.now() - t0);
    }
    load.push(os.loadavg()[0]);
  }
  const med = times.map(median);
  const result = {
    machine: machine(),
    node: process.version,
    preset: f.preset,
    batch: f.batch,
    runs: f.runs,
    threads: 1,
    logitsRelDiff,
    loadavg: load.map((v) => +v.toFixed(2)),
    ms: Object.fromEntries(contenders.map((c, k) => [c.id, { median: +med[k].toFixed(1), all: times[k].map((v) => +v.toFixed(1)) }])),
    oursSpeedVsOrtWeb: +(med[1] / med[0]).toFixed(3),
  };
  if (f.json) console.log(JSON.stringify(result, null, 2));
  console.log(`${result.machine.cpu}; node ${process.version}; one thread each, SIMD128 on both; median of ${f.runs} alternating runs; load ${result.loadavg.join(' → ')}`);
  console.log(`| ${f.preset} 224², batch ${f.batch} | ms | images/s |`);
  console.log('|---|---|---|');
  for (const [k, c] of contenders.entries()) console.log(`| ${c.id} | ${med[k].toFixed(0)} | ${((1000 * f.batch) / med[k]).toFixed(2)} |`);
  console.log(`ours / onnxruntime-web speed: ${result.oursSpeedVsOrtWeb}× (logits agree to ${logitsRelDiff.toExponential(1)} of max |logit|)`);
  model.dispose();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
