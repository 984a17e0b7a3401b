/**
 * The browser entry through a bundler: esbuild (a pinned devDependency) bundles an app importing
 * npm/wasm32/browser.mjs for the browser platform; the bundle holds no Node built-ins, and
 * headless Chromium runs it with the .wasm served next to it (found via import.meta.url).
 * No browser, no esbuild or no WASM build: FAIL.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';

import test from 'ava';
import { build } from 'esbuild';

import { Browser, findChromium } from './helpers/chromium.js';
import { tempDir } from './helpers/util.js';
import { loadWasm, root } from './helpers/wasm.js';

test('an app bundled with esbuild runs the WASM build in headless Chromium', async (t) => {
  loadWasm();
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium: install Debian's `chromium` (scripts/install-chromium.sh) or set CHROMIUM_PATH");
  const { dir, cleanup } = tempDir('densenet-bundle-');
  t.teardown(cleanup);
  const result = await build({
    entryPoints: [join(root, 'test/browser/bundle-entry.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outfile: join(dir, 'app.js'),
    logLevel: 'silent',
  });
  t.deepEqual(result.errors, []);
  const bundle = readFileSync(join(dir, 'app.js'), 'utf8');
  t.notRegex(bundle, /from\s*['"]node:|require\(['"](fs|path|node:)/);
  copyFileSync(join(root, 'npm/wasm32/web/densenet_wasm_bg.wasm'), join(dir, 'densenet_wasm_bg.wasm'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="./app.js"></script>');

  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0]!.replace(/^\/+/, '') || 'index.html';
    if (!/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
    let body: Buffer;
    try {
      body = readFileSync(join(dir, name));
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'content-type': types[extname(name)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const browser = Browser.launch(chromium);
  t.teardown(() => browser.close());
  const session = await browser.open(`http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`);
  let out: Record<string, unknown> | undefined;
  const until = Date.now() + 60_000;
  while (!out) {
    try {
      out = ((await browser.evaluate(session, 'location.protocol === "http:" && window.__result ? window.__result : Promise.resolve(null)')) as Record<string, unknown> | null) ?? undefined;
    } catch (err) {
      if (!/context was destroyed|Cannot find (default execution )?context/.test(String(err))) throw err;
    }
    if (!out) {
      if (Date.now() > until) throw new Error('the bundled page did not produce a result');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.log(JSON.stringify(out));
  t.is(out['error'], undefined, String(out['error']));
  t.is(out['logits'], 10);
  t.true(out['finite']);
  t.true(Number.isFinite(out['loss']));
  t.true(out['simd']);
});
