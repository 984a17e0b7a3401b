// Module Web Worker of wasm-threads.html: trains a DenseNet for a few steps with the WASM build on
// `threads` threads (the threaded module needs a cross-origin-isolated page) from seeded data,
// and posts the pool size, each step's milliseconds and SHA-256 of the weights and the logits.
import { init } from '/npm/wasm32/browser.mjs';

const hex = async (bytes) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) => b.toString(16).padStart(2, '0')).join('');

self.onmessage = async ({ data: { config, batch, side, steps, threads } }) => {
  try {
    const dn = await init(undefined, { threads });
    const model = new dn.NativeModel(JSON.stringify(config), 'f32', 7);
    model.setOptimizer(JSON.stringify({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }));
    const data = (n, seed) => {
      let s = seed >>> 0;
      const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
      const x = new Float32Array(n * config.inChannels * side * side);
      for (let i = 0; i < x.length; i++) x[i] = 2 * next() - 1;
      const y = new Int32Array(n);
      for (let i = 0; i < n; i++) y[i] = Math.floor(next() * config.numClasses);
      return { x, y, shape: [n, config.inChannels, side, side] };
    };
    const ms = [];
    for (let k = 0; k < steps; k++) {
      const { x, y, shape } = data(batch, 1000 + k);
      const t0 = performance.now();
      await model.trainStep(x, shape, y);
      ms.push(performance.now() - t0);
    }
    const ev = data(batch, 99);
    const logits = await model.predict(ev.x, ev.shape);
    self.postMessage({ threads: dn.currentNumThreads(), ms, weights: await hex(model.weightsBytes()), logits: await hex(logits) });
  } catch (e) {
    self.postMessage({ error: String(e && e.message ? e.message : e), code: e && e.code });
  }
};
