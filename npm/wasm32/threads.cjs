'use strict';
// The WASM module's threads in Node: rayon's global pool on `worker_threads` workers (the module is
// built with shared memory; crates/densenet-wasm/src/threads.rs). Started once, when the package
// loads, before any computation, with DENSENET_WASM_THREADS threads (default: every core the
// process may use, at most 64; 1 = no pool, the caller's thread). The results are the same bits
// for any thread count.
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

/** How long the workers may take to start before the load fails (ms). */
const START_TIMEOUT_MS = 30000;

/** The pool size asked for: DENSENET_WASM_THREADS, else the usable cores (≤ 64). */
function requestedThreads(env = process.env) {
  const raw = env.DENSENET_WASM_THREADS;
  if (raw === undefined || raw === '') return Math.min(64, os.availableParallelism());
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new Error(`DENSENET_WASM_THREADS must be an integer in 1..256, got '${raw}'`);
  }
  return n;
}

/**
 * Starts `threads` workers on `wasm` (the Node glue of the threaded module), waits until each
 * runs, then hands them rayon's pool; returns the pool size (1: no pool). Throws when the workers
 * do not start in time.
 */
function startThreads(wasm, threads) {
  if (threads < 2 || !wasm.threadsSupported()) return 1;
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const failures = [];
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(path.join(__dirname, 'node-worker.cjs'), {
      workerData: { module: wasm.__wbg_wasm_module, memory: wasm.__wbg_memory, ready },
    });
    worker.on('error', (err) => failures.push(err));
    worker.unref();
  }
  // The workers start on their own threads; block (the main thread may: this is Node) until they run.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let seen = Atomics.load(ready, 0); seen < threads; seen = Atomics.load(ready, 0)) {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`@densenet-sdk/wasm32: ${seen} of ${threads} WASM worker threads started within ${START_TIMEOUT_MS / 1000} s; set DENSENET_WASM_THREADS=1 to run on one thread`);
    }
    Atomics.wait(ready, 0, seen, Math.min(left, 100));
  }
  wasm.startThreadPool(threads);
  return threads;
}

module.exports = { requestedThreads, startThreads };
