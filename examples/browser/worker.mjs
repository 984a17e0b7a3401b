// The demo's Web Worker: owns the WASM model and the MNIST digits, trains off the main thread.
// Messages in: {type:'init'} | {type:'train', epochs, samples, batch, lr} | {type:'predict', pixels}
// | {type:'save'} | {type:'load', bytes}. Messages out: {type:'ready'|'progress'|'epoch'|'trained'|
// 'prediction'|'saved'|'loaded'|'error', ...}.
import { init } from '/npm/wasm32/browser.mjs';

import { topK } from '../shared/drawing.mjs';

const CONFIG = { growthRate: 8, blockConfig: [2, 2, 2], numInitFeatures: 16, bottleneck: true, bnSize: 4, compression: 0.5, dropRate: 0, numClasses: 10, inChannels: 1, smallInputs: true };
const MEAN = 0.1307;
const STD = 0.3081;
let dn;
let model;
let digits; // { n, rows, cols, labels: Uint8Array, pixels: Uint8Array }
let order; // the digits in a fixed pseudo-random order (the asset is sorted by label)
const TEST = 1000; // the last TEST digits of `order` are held out
let epochDone = 0;

async function loadMnist() {
  const res = await fetch('/assets/mnist-10k.bin.gz');
  if (!res.ok) throw new Error(`fetching the MNIST asset: HTTP ${res.status}`);
  const raw = new Uint8Array(await new Response(res.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  if (String.fromCharCode(...raw.subarray(0, 4)) !== 'DNMN' || raw[4] !== 1) throw new Error('not a DNMN v1 MNIST asset');
  const rows = raw[5];
  const cols = raw[6];
  const n = new DataView(raw.buffer).getUint32(8, true);
  return { n, rows, cols, labels: raw.subarray(12, 12 + n), pixels: raw.subarray(12 + n) };
}

/** Normalized float input [count,1,28,28] of digits idx[from..from+count). */
function batchOf(idx, from, count) {
  const size = digits.rows * digits.cols;
  const x = new Float32Array(count * size);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const d = idx[from + i];
    y[i] = digits.labels[d];
    for (let j = 0; j < size; j++) x[i * size + j] = (digits.pixels[d * size + j] / 255 - MEAN) / STD;
  }
  return { x, y, shape: [count, 1, digits.rows, digits.cols] };
}

const softmaxTop3 = (logits) => topK(logits, 3).map(({ index, p }) => ({ label: index, p }));

const handlers = {
  async init() {
    dn = await init();
    digits = await loadMnist();
    model = new dn.NativeModel(JSON.stringify(CONFIG), 'f32', 0);
    order = Array.from({ length: digits.n }, (_, i) => i);
    let s = 20170101;
    for (let i = order.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const j = s % (i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return { type: 'ready', params: model.paramCount(), digits: digits.n, simd: dn.gemmSimd128(), heldOut: order.slice(digits.n - TEST, digits.n - TEST + 10), threads: dn.currentNumThreads() };
  },
  async train({ epochs = 1, samples = Infinity, batch = 32, lr = 0.1 }) {
    model.setOptimizer(JSON.stringify({ lr, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }));
    // The last TEST digits of the fixed order are held out; training uses the first `samples`.
    const trainIdx = order.slice(0, Math.min(samples, digits.n - TEST));
    const testIdx = order.slice(digits.n - TEST);
    const test = TEST;
    const steps = Math.floor(trainIdx.length / batch);
    const history = [];
    let seed = 12345 + epochDone; // reproducible shuffles
    for (let e = 0; e < epochs; e++) {
      for (let i = trainIdx.length - 1; i > 0; i--) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const j = seed % (i + 1);
        [trainIdx[i], trainIdx[j]] = [trainIdx[j], trainIdx[i]];
      }
      for (let s = 0; s < steps; s++) {
        const b = batchOf(trainIdx, s * batch, batch);
        const r = await model.trainStep(b.x, b.shape, b.y);
        postMessage({ type: 'progress', epoch: e, step: s + 1, steps, loss: r.loss, accuracy: r.correct / batch });
      }
      let correct = 0;
      let loss = 0;
      for (let s = 0; s < test; s += 100) {
        const b = batchOf(testIdx, s, Math.min(100, test - s));
        const r = await model.evalStep(b.x, b.shape, b.y);
        correct += r.correct;
        loss += r.loss * b.y.length;
      }
      epochDone++;
      history.push({ epoch: epochDone, testAccuracy: correct / test, testLoss: loss / test });
      postMessage({ type: 'epoch', ...history[history.length - 1] });
    }
    return { type: 'trained', history };
  },
  async predict({ pixels }) {
    const size = pixels.length;
    const x = new Float32Array(size);
    for (let j = 0; j < size; j++) x[j] = (pixels[j] / 255 - MEAN) / STD;
    const logits = await model.predict(x, [1, 1, digits.rows, digits.cols]);
    return { type: 'prediction', top3: softmaxTop3(logits) };
  },
  async digit({ index }) {
    const size = digits.rows * digits.cols;
    return { type: 'digit', pixels: digits.pixels.slice(index * size, (index + 1) * size), label: digits.labels[index] };
  },
  async save() {
    const bytes = model.weightsBytes(JSON.stringify({ 'densenet.preprocessing': JSON.stringify({ inputSize: [digits.rows, digits.cols], channels: 1, mean: [MEAN], std: [STD], classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] }) }));
    return { type: 'saved', bytes };
  },
  async load({ bytes }) {
    model.loadWeightsBytes(bytes, 'weights.safetensors');
    return { type: 'loaded' };
  },
};

self.onmessage = async ({ data }) => {
  try {
    const out = await handlers[data.type](data);
    postMessage({ ...out, id: data.id }, out.bytes ? [out.bytes.buffer] : []);
  } catch (e) {
    postMessage({ type: 'error', id: data.id, message: String(e && e.message ? e.message : e), code: e && e.code });
  }
};
