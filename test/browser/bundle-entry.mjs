// Entry of the bundler test (test/wasm-bundle.test.ts): an app that imports the browser entry.
import { init } from '../../npm/wasm32/browser.mjs';

window.__result = (async () => {
  const dn = await init(); // fetches densenet_wasm_bg.wasm next to the bundle (import.meta.url)
  const m = new dn.NativeModel(dn.cifarConfig(10, 4, true, 10), 'f32', 1);
  const y = await m.predict(new Float32Array(3 * 8 * 8).fill(0.5), [1, 3, 8, 8]);
  const r = await m.trainStep(new Float32Array(2 * 3 * 8 * 8).fill(0.25), [2, 3, 8, 8], new Int32Array([1, 2]));
  return { logits: y.length, finite: Array.from(y).every(Number.isFinite), loss: r.loss, simd: dn.gemmSimd128() };
})().catch((e) => ({ error: String(e && e.message ? e.message : e) }));
