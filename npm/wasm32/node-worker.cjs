'use strict';
// One rayon worker of the threaded WASM module, started by threads.cjs: the same compiled module
// on the same shared memory. It reports ready, then waits for one of rayon's threads and runs it
// until the process
// (the main thread holds it unref'd, so it never keeps the process alive).
const { workerData, parentPort } = require('node:worker_threads');

const wasm = require('./node/densenet_wasm.js');

wasm.initSync({ module: workerData.module, memory: workerData.memory });
Atomics.add(workerData.ready, 0, 1);
Atomics.notify(workerData.ready, 0);
parentPort.close();
wasm.runThread();
