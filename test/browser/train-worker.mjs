// Module Web Worker: trains a tiny DenseNet-BC with the WASM build off the page's main thread and
// posts progress, then the result (see wasm-worker.html).
import { init } from '/npm/wasm32/browser.mjs';

self.onmessage = async ({ data: { steps } }) => {
  try {
    const dn = await init();
    const config = JSON.stringify({ growthRate: 4, blockConfig: [2, 2, 2], numInitFeatures: 8, bottleneck: true, bnSize: 4, compression: 0.5, dropRate: 0, numClasses: 2, inChannels: 3, smallInputs: true });
    const model = new dn.NativeModel(config, 'f32', 1);
    model.setOptimizer(JSON.stringify({ lr: 0.05 }));
    let s = 777;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const batch = (n) => {
      const x = new Float32Array(n * 768);
      const y = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = i % 2;
        for (let j = 0; j < 768; j++) x[i * 768 + j] = (y[i] ? 0.5 : -0.5) + (rand() - 0.5) * 1.5;
      }
      return { x, y };
    };
    const losses = [];
    for (let k = 0; k < steps; k++) {
      const { x, y } = batch(16);
      losses.push((await model.trainStep(x, [16, 3, 16, 16], y)).loss);
      self.postMessage({ progress: (k + 1) / steps });
    }
    const t = batch(32);
    const ev = await model.evalStep(t.x, [32, 3, 16, 16], t.y);
    const weights = model.weightsBytes();
    self.postMessage({ done: { losses, accuracy: ev.correct / 32, weights } }, [weights.buffer]);
  } catch (e) {
    self.postMessage({ error: String(e && e.message ? e.message : e), code: e && e.code });
  }
};
