'use strict';
// Trains a DenseNet for a few steps in the WASM build (npm/wasm32, its Node entry) on seeded
// random data and prints one JSON line: the pool size, each step's milliseconds, and SHA-256 of
// the weights after training and of the logits of one eval batch. The pool size comes from
// DENSENET_WASM_THREADS, read when the package loads. Used by test/wasm-threads.test.ts (same bits
// for any thread count) and benches/wasm_threads.mjs (speed per thread count).
//
//   node benches/lib/wasm-train-steps.cjs '<config JSON>' <batch> <side> <steps>
const { createHash } = require('node:crypto');
const path = require('node:path');

const [configJson, batchArg, sideArg, stepsArg] = process.argv.slice(2);
const config = JSON.parse(configJson);
const [batch, side, steps] = [Number(batchArg), Number(sideArg), Number(stepsArg)];
const wasm = require(path.join(__dirname, '../../npm/wasm32/index.cjs'));

/** Deterministic inputs in [-1, 1) and labels (an LCG: the same on every run). */
function data(n, seed) {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const size = config.inChannels * side * side;
  const x = new Float32Array(n * size);
  for (let i = 0; i < x.length; i++) x[i] = 2 * next() - 1;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = Math.floor(next() * config.numClasses);
  return { x, y, shape: [n, config.inChannels, side, side] };
}

const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

(async () => {
  const model = new wasm.NativeModel(JSON.stringify(config), 'f32', 7);
  model.setOptimizer(JSON.stringify({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }));
  const ms = [];
  for (let k = 0; k < steps; k++) {
    const { x, y, shape } = data(batch, 1000 + k);
    const t0 = process.hrtime.bigint();
    await model.trainStep(x, shape, y);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const ev = data(batch, 99);
  const logits = await model.predict(ev.x, ev.shape);
  const out = { threads: wasm.currentNumThreads(), ms, weights: sha(model.weightsBytes()), logits: sha(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)) };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0); // the pool's workers are unref'd, but leave no doubt
})().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
