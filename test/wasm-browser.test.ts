/**
 * The browser entry of the WASM package (npm/wasm32/browser.mjs over the wasm-bindgen `--target
 * web` glue): ESM with no Node built-ins, and the same results as the Node entry. Run in Node
 * (no headless browser here yet); a missing WASM build FAILS these tests.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { labelsFor, randn, TINY } from './helpers/util.js';
import { loadWasm, root } from './helpers/wasm.js';

const ENTRY = join(root, 'npm/wasm32/browser.mjs');
const GLUE = join(root, 'npm/wasm32/web/densenet_wasm.js');
const WASM = join(root, 'npm/wasm32/web/densenet_wasm_bg.wasm');

test('the browser entry and its glue import nothing from Node', (t) => {
  for (const f of [ENTRY, GLUE]) {
    const src = readFileSync(f, 'utf8');
    t.notRegex(src, /from\s+['"]node:|import\(['"]node:|\brequire\(|\bprocess\./, f);
    for (const m of src.matchAll(/^import .* from ['"]([^'"]+)['"]/gm)) t.regex(m[1]!, /^\.\//, `${f} imports ${m[1]}`);
  }
});

test('the browser entry computes exactly what the Node entry computes', async (t) => {
  const node = loadWasm();
  const mod = (await import(pathToFileURL(ENTRY).href)) as {
    init(src?: unknown): Promise<typeof node>;
    NativeModel: typeof node.NativeModel;
  };
  t.throws(() => new mod.NativeModel(JSON.stringify(TINY), 'f32', 1), { message: /await init\(\) first/ });
  const dn = await mod.init(readFileSync(WASM));
  t.is(await mod.init(), dn, 'init is idempotent');
  const config = JSON.stringify(TINY);
  const b = new dn.NativeModel(config, 'f32', 2);
  const n = new node.NativeModel(config, 'f32', 2);
  const shape = [2, 3, 16, 16];
  for (let s = 0; s < 3; s++) {
    const x = randn(2 * 3 * 16 * 16, s + 1);
    const y = labelsFor(2, 10, s);
    t.deepEqual(await b.trainStep(x, shape, y), await n.trainStep(x, shape, y));
  }
  t.deepEqual(Buffer.from(b.weightsBytes()), Buffer.from(n.weightsBytes()));
  // Bytes round trip and coded errors.
  const c = new dn.NativeModel(config, 'f32', 0);
  // An ArrayBuffer (as from fetch): the browser entry accepts it as well as a Uint8Array.
  c.loadCheckpointBytes(n.checkpointBytes('{"k":1}').buffer as unknown as Uint8Array, 'ckpt');
  t.is(c.step, 3);
  const err = await b.predict(new Float32Array(5), shape).catch((e: unknown) => e);
  t.is((err as { code?: string }).code, 'ERR_SHAPE');
  t.deepEqual(dn.presetNames(), node.presetNames());
});
