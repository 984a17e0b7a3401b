/**
 * The ONNX browser example (examples/onnx/, served by scripts/demo.mjs) in headless Chromium: a
 * model trained natively on MNIST digits is saved and exported; the page loads the weights into
 * our WASM build and the export into onnxruntime-web, and for digits painted on the drawing
 * canvas both runtimes give the same logits (f32 tolerance) and so the same top-3.
 * Screenshot: test-artifacts/onnx-browser.png. No browser or no WASM build: FAIL.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

// @ts-expect-error -- a plain .mjs script without types
import { startDemoServer } from '../scripts/demo.mjs';
import { DenseNet, SubsetDataset, loadDataset, train } from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import { Browser, findChromium } from './helpers/chromium.js';
import { CHILD_CONFIG } from './helpers/train-fixtures.js';
import { tempDir } from './helpers/util.js';
import { loadWasm, root } from './helpers/wasm.js';

interface Ranked {
  index: number;
  label: string;
  p: number;
}
interface Classified {
  ours: Ranked[];
  onnx: Ranked[];
  logits: { ours: number[]; onnx: number[] };
  relativeDifference: number;
}

test('the ONNX example: weights in WASM and the export in onnxruntime-web give the same top-3 for canvas drawings', async (t) => {
  loadWasm();
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium: install Debian's `chromium` (scripts/install-chromium.sh) or set CHROMIUM_PATH");
  const { dir, cleanup } = tempDir('densenet-onnx-browser-');
  t.teardown(cleanup);

  // The digit asset is ordered by class and the split's indices are sorted: every 2nd spans them all.
  // A briefly trained model (so that its logits are not near-uniform), saved and exported.
  const full = await loadDataset('mnist');
  const split = splitIndices(full.length, 1000, 'onnx-browser');
  const model = DenseNet.create(CHILD_CONFIG, { seed: 4 });
  t.teardown(() => model.dispose());
  await train(model, { trainSet: new SubsetDataset(full, split.train.filter((_, i) => i % 2 === 0), 'mnist-train'), outDir: join(dir, 'run'), epochs: 1, batchSize: 32, validationSize: 64, normalization: 'mnist', threads: 2 });
  await model.save(join(dir, 'digits.safetensors'));
  await model.exportOnnx(join(dir, 'digits.onnx'));

  const server = (await startDemoServer(0, { models: dir })) as { onnxUrl: string; close: () => Promise<void> };
  t.teardown(() => server.close());
  const browser = Browser.launch(chromium);
  t.teardown(() => browser.close());
  const session = await browser.open(`${server.onnxUrl}?weights=/models/digits.safetensors&onnx=/models/digits.onnx`);
  const evaluate = async (expr: string): Promise<unknown> => {
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        return await browser.evaluate(session, `location.protocol === "http:" && window.onnxDemo ? (${expr}) : Promise.resolve("__not_yet")`);
      } catch (err) {
        if (!/context was destroyed|Cannot find (default execution )?context/.test(String(err))) throw err;
      }
      if (Date.now() > until) throw new Error('the ONNX example page did not load');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  let loaded: unknown = '__not_yet';
  while (loaded === '__not_yet') loaded = await evaluate('onnxDemo.ready');
  t.log(JSON.stringify(loaded));
  t.like(loaded, { params: model.parameterCount, inputSize: [28, 28], channels: 1 });

  // Held-out digits painted on the canvas; both runtimes read the same canvas pixels.
  const heldOut = split.validation.filter((_, i) => i % 100 === 0); // sorted indices, the asset by class: every class
  const pp = model.preprocessing!;
  let sameTop3 = 0;
  let right = 0;
  let asNative = 0;
  let last: Classified | undefined;
  for (const index of heldOut) {
    const digit = full.get(index);
    // The native model on the digit itself (no canvas): what the page's preprocessing must match.
    const x = Float32Array.from(digit.pixels, (v) => (v / 255 - pp.mean[0]!) / pp.std[0]!);
    const native = (await model.predict(x, [1, 1, 28, 28])).logits;
    const nativeTop = native.indexOf(Math.max(...native));
    const r = (await evaluate(`(async () => { onnxDemo.clear(); onnxDemo.paint(${JSON.stringify(Array.from(digit.pixels))}); return onnxDemo.classify(); })()`)) as Classified;
    t.true(r.relativeDifference < 1e-5, `digit ${index}: WASM vs onnxruntime-web logits differ by ${r.relativeDifference} of the largest`);
    // The top-3 orders agree unless two probabilities are within f32 noise of each other.
    const ordersAgree = r.ours.every((o, i) => o.index === r.onnx[i]!.index);
    const nearTie = r.ours.some((o, i) => i > 0 && Math.abs(o.p - r.ours[i - 1]!.p) < 1e-4);
    t.true(ordersAgree || nearTie, `digit ${index}: top-3 ${JSON.stringify(r.ours)} vs ${JSON.stringify(r.onnx)}`);
    if (ordersAgree) sameTop3++;
    if (r.ours[0]!.label === String(digit.label)) right++;
    if (r.ours[0]!.index === nativeTop) asNative++;
    last = r;
  }
  t.log(`same top-3 for ${sameTop3}/10 drawn digits; top-1 as the native model on the digit itself: ${asNative}/10; right: ${right}/10; last: ${JSON.stringify({ ours: last!.ours, onnx: last!.onnx, rel: last!.relativeDifference })}`);
  // The canvas round trip (×10 up, smoothed down) changes a few pixels by rounding, not the class.
  t.true(asNative >= 9, `the page's top-1 matches the native model on the same digits for ${asNative}/10: the page's preprocessing is off`);
  mkdirSync(join(root, 'test-artifacts'), { recursive: true });
  writeFileSync(join(root, 'test-artifacts', 'onnx-browser.png'), await browser.screenshot(session));

  // A bad file gets a message naming it, and the loaded model stays usable.
  const bad = (await evaluate(`onnxDemo.load('/models/run/results.csv', '/models/digits.onnx').then(() => 'loaded', (e) => e.message)`)) as string;
  t.regex(bad, /results\.csv/);
  const again = (await evaluate('onnxDemo.classify()')) as Classified;
  t.deepEqual(again.ours.map((r) => r.index), last!.ours.map((r) => r.index));
});
