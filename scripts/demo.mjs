#!/usr/bin/env node
// `npm run demo`: serves the browser demos on localhost and prints their URLs:
// examples/browser/ trains on the embedded MNIST digits (assets/) in the WASM package (npm/wasm32,
// built by `npm run build:wasm`); examples/onnx/ runs a trained model's weights in the WASM build
// beside its ONNX export in onnxruntime-web (node_modules/onnxruntime-web). Cross-origin isolated
// (COOP/COEP) so the WASM build may use threads.
// Options: --port N (default 8080; 0 = any free port); --models DIR serves DIR's files under
// /models/ (e.g. examples/onnx/?weights=/models/best.safetensors&onnx=/models/model.onnx).
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TYPES = { '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.gz': 'application/gzip' };
const SERVED = ['/examples/', '/npm/wasm32/', '/assets/', '/test/browser/', '/node_modules/onnxruntime-web/dist/'];
// Cross-origin isolation: the page may then share memory with its workers, so the WASM build
// trains on every core (SharedArrayBuffer needs COOP + COEP; everything here is same-origin).
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/**
 * Starts the static server on 127.0.0.1.
 * @param {number} port - 0 for any free port
 * @param {{ models?: string }} [options] - models: a folder served under /models/
 * @returns {Promise<{ url: string, onnxUrl: string, close: () => Promise<void> }>}
 */
export async function startDemoServer(port = 8080, { models } = {}) {
  const server = createServer((req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path === '/') {
      res.writeHead(302, { location: '/examples/browser/' }).end();
      return;
    }
    if (path.endsWith('/')) path += 'index.html';
    const fromModels = models !== undefined && path.startsWith('/models/');
    if (!fromModels && !SERVED.some((p) => path.startsWith(p))) {
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const body = readFileSync(fromModels ? join(models, path.slice('/models/'.length)) : join(root, path));
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...ISOLATION }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: actual } = server.address();
  return { url: `http://127.0.0.1:${actual}/examples/browser/`, onnxUrl: `http://127.0.0.1:${actual}/examples/onnx/`, close: () => new Promise((r) => server.close(() => r())) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const port = Number(arg('--port') ?? 8080);
  const models = arg('--models');
  if (!existsSync(join(root, 'npm/wasm32/web/densenet_wasm_bg.wasm'))) {
    console.error('the WASM build is missing: run `npm run build:wasm` first');
    process.exit(1);
  }
  if (models !== undefined && !existsSync(models)) {
    console.error(`--models ${models}: no such folder`);
    process.exit(1);
  }
  const { url, onnxUrl } = await startDemoServer(port, { models });
  console.log(`densenet-sdk browser demo: ${url}  (Ctrl-C to stop)`);
  console.log(`ONNX beside WASM:          ${onnxUrl}${models ? '?weights=/models/<file>.safetensors&onnx=/models/<file>.onnx' : '  (--models DIR serves your files under /models/)'}`);
}
