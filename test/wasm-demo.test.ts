/**
 * The browser demo (examples/browser/, served by scripts/demo.mjs as `npm run demo`) in headless
 * Chromium: it trains the small DenseNet-BC on the embedded MNIST digits for one short epoch in a
 * Web Worker, reaches clearly better than chance on held-out digits, classifies a digit painted
 * on the drawing canvas, and saves weights that the native build loads (and loads them back).
 * Screenshot: test-artifacts/wasm-demo.png. No browser or no WASM build: FAIL.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

// @ts-expect-error -- a plain .mjs script without types
import { startDemoServer } from '../scripts/demo.mjs';
import { DenseNet } from '../ts/index.js';
import { Browser, findChromium } from './helpers/chromium.js';
import { tempDir } from './helpers/util.js';
import { loadWasm, root } from './helpers/wasm.js';

test('the demo trains on MNIST in a worker, classifies a drawn digit, and saves weights the native build loads', async (t) => {
  loadWasm();
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium: install Debian's `chromium` (scripts/install-chromium.sh) or set CHROMIUM_PATH");
  const server = (await startDemoServer(0)) as { url: string; close: () => Promise<void> };
  t.teardown(() => server.close());
  const browser = Browser.launch(chromium);
  t.teardown(() => browser.close());
  const session = await browser.open(server.url);

  const evaluate = async (expr: string): Promise<unknown> => {
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        return await browser.evaluate(session, `location.protocol === "http:" && window.demo ? (${expr}) : Promise.resolve("__not_yet")`);
      } catch (err) {
        if (!/context was destroyed|Cannot find (default execution )?context/.test(String(err))) throw err;
      }
      if (Date.now() > until) throw new Error('the demo page did not load');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  let ready: unknown = '__not_yet';
  while (ready === '__not_yet') ready = await evaluate('demo.ready');
  t.log(JSON.stringify(ready));

  const history = (await evaluate('demo.train({ samples: 8000, batch: 32, lr: 0.1 })')) as { testAccuracy: number }[];
  t.log(JSON.stringify(history));
  t.true(history[0]!.testAccuracy >= 0.8, `held-out accuracy ${history[0]!.testAccuracy} (chance 0.1)`);

  // Paint held-out digits onto the drawing canvas and classify them through the canvas path.
  const heldOut = (ready as { heldOut: number[] }).heldOut;
  const drawn = (await evaluate(`(async () => {
    const out = [];
    for (const index of ${JSON.stringify(heldOut)}) {
      const d = await demo.digit(index);
      demo.clear();
      demo.paint(d.pixels);
      const top3 = await demo.classify();
      out.push({ label: d.label, top3: top3.map((x) => x.label) });
    }
    return out;
  })()`)) as { label: number; top3: number[] }[];
  t.log(JSON.stringify(drawn));
  const inTop3 = drawn.filter((d) => d.top3.includes(d.label)).length;
  t.true(inTop3 >= 8, `drawn digits with the true label in the top 3: ${inTop3}/10`);
  const top1 = drawn.filter((d) => d.top3[0] === d.label).length;
  t.true(top1 >= 7, `drawn digits classified right: ${top1}/10`);
  mkdirSync(join(root, 'test-artifacts'), { recursive: true });
  writeFileSync(join(root, 'test-artifacts', 'wasm-demo.png'), await browser.screenshot(session));

  // Save in the page, load natively: the same top-1 for the last drawn digit's pixels.
  const bytes = Buffer.from((await evaluate('demo.saveWeights().then((b) => btoa(String.fromCharCode(...b)))')) as string, 'base64');
  const { dir, cleanup } = tempDir('densenet-demo-');
  t.teardown(cleanup);
  const file = join(dir, 'demo.safetensors');
  writeFileSync(file, bytes);
  const native = await DenseNet.load(file, null, { backend: 'native' });
  t.deepEqual(native.preprocessing?.mean, [0.1307]);
  t.is(native.config.inChannels, 1);
  await native.dispose();
  // And load them back into the page (round trip through the worker).
  const reloaded = await evaluate(`(async () => {
    const b = await demo.saveWeights();
    await demo.loadWeights(b);
    return (await demo.classify()).map((x) => x.label);
  })()`);
  t.deepEqual(reloaded, drawn[drawn.length - 1]!.top3);
});
