// One rayon worker of the threaded WASM module in a browser, started by browser.mjs: the same
// compiled module on the same shared memory. It reports ready, then waits for one of rayon's
// threads and runs it until the page or its worker ends.
import { initSync, runThread } from './web-threads/densenet_wasm.js';

self.onmessage = ({ data }) => {
  self.onmessage = null;
  initSync({ module: data.module, memory: data.memory });
  self.postMessage('ready');
  runThread();
};
