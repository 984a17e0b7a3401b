// Browser entry of @densenet-sdk/wasm32 (browser.mjs) (ESM, no `node:` imports): the binding interface of the
// native addon over the wasm-bindgen `--target web` module in web/. No file system: weights and
// checkpoints are bytes (weightsBytes / loadWeightsBytes / checkpointBytes /
// loadCheckpointBytes); save/load by path are absent. Works through a bundler (the .wasm is
// referenced with `new URL(..., import.meta.url)`).
//
//   import { init } from '@densenet-sdk/wasm32/browser';
//   const dn = await init();                       // or init(bytes | Response | URL | WebAssembly.Module)
//   const dn = await init(undefined, { threads: navigator.hardwareConcurrency });
//
// Threads: `threads` > 1 loads the threaded module (web-threads/: shared memory, rayon on Web
// Workers, browser-worker.mjs). It needs a cross-origin-isolated page (COOP: same-origin, COEP:
// require-corp) and must run in a Worker (the computing thread blocks while the pool works, which
// a page's main thread may not). Default: every core when both hold, else one thread. The
// results are the same bits for any thread count. `source` then names the threaded .wasm.
//   const model = new dn.NativeModel(dn.presetConfig('densenet-bc-100'), 'f32', 0);
//   const logits = await model.predict(images, [n, 3, 32, 32]);
//
// Errors are JS Errors with `code` (ERR_SHAPE, ...). A Rust panic traps: it becomes ERR_INTERNAL
// with the panic message, and the instance refuses every later call (reload the page/worker).
import wbInit, * as singleThreaded from './web/densenet_wasm.js';

/** The module's glue in use: the single-threaded one until init() picks the threaded one. */
let wasm = singleThreaded;

let aborted = null;
let ready = null;

function coded(code, message, cause) {
  const err = new Error(message, cause === undefined ? undefined : { cause });
  err.code = code;
  return err;
}

function call(fn) {
  if (ready === null) throw coded('ERR_INVALID_ARG', '@densenet-sdk/wasm32: call and await init() first');
  if (aborted !== null) throw coded('ERR_INTERNAL', `the WASM module aborted on an earlier error and cannot be used any more: ${aborted}`);
  try {
    return fn();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      let msg;
      try {
        msg = wasm.takePanicMessage();
      } catch {
        msg = undefined;
      }
      aborted = msg || `wasm trap: ${err.message}`;
      throw coded('ERR_INTERNAL', aborted, err);
    }
    throw err;
  }
}

async function callAsync(fn) {
  return call(fn);
}

const u32 = (shape) => Uint32Array.from(shape);

export class NativeModel {
  #m;
  #dtype;
  constructor(configJson, dtype, seed) {
    this.#m = call(() => new wasm.WasmModel(configJson, dtype, seed));
    this.#dtype = dtype;
  }
  get dtype() {
    return this.#dtype;
  }
  get step() {
    return call(() => this.#m.step);
  }
  weightsBytes(metadataJson) {
    return call(() => this.#m.weightsBytes(metadataJson ?? undefined));
  }
  loadWeightsBytes(bytes, sourceName) {
    call(() => this.#m.loadWeightsBytes(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes, sourceName ?? '<bytes>'));
  }
  loadCheckpointBytes(bytes, sourceName) {
    return call(() => this.#m.loadCheckpointBytes(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes, sourceName ?? '<bytes>'));
  }
  // Methods that hand their arguments to the module's model (errors mapped by `call`).
  static {
    // As a method written in the class body: writable, configurable, not enumerable.
    const define = (name, method) => Object.defineProperty(this.prototype, name, { value: method, writable: true, configurable: true });
    const forwarded = [
      ...['configJson', 'paramCount', 'summaryJson', 'checkpointBytes', 'setOptimizer', 'setLearningRate', 'optimizerJson', 'setLrFactor'],
      ...['freeze', 'unfreeze', 'setFrozenBatchNorm', 'frozenBatchNorm', 'parametersJson', 'trainableParamCount', 'resetClassifier'],
      ...['setMemoryMode', 'setThreads'],
    ];
    for (const name of forwarded) {
      define(name, function (...args) {
        return call(() => this.#m[name](...args));
      });
    }
    // The batch methods: a shape array in, a Promise out.
    for (const name of ['predict', 'trainStep', 'evalStep']) {
      define(name, function (input, shape, ...labels) {
        return callAsync(() => this.#m[name](input, u32(shape), ...labels));
      });
    }
  }
  memoryEstimate(shape) {
    return call(() => this.#m.memoryEstimate(u32(shape)));
  }
  setMemoryBudget(bytes) {
    call(() => this.#m.setMemoryBudget(bytes ?? undefined));
  }
  memoryBudget() {
    const b = call(() => this.#m.memoryBudget());
    return b === undefined ? null : b;
  }
  dispose() {
    if (aborted !== null) return;
    call(() => this.#m.dispose());
  }
}

const binding = {
  NativeModel,
  presetConfig: (name) => call(() => wasm.presetConfig(name)),
  presetNames: () => call(() => wasm.presetNames()),
  normalizeConfig: (json) => call(() => wasm.normalizeConfig(json)),
  cifarConfig: (depth, growthRate, bc, numClasses) => call(() => wasm.cifarConfig(depth, growthRate, bc, numClasses)),
  normalizeOptimizer: (json) => call(() => wasm.normalizeOptimizer(json)),
  scheduleLr: (scheduleJson, epoch) => call(() => wasm.scheduleLr(scheduleJson, epoch)),
  referenceSchedule: (lr, epochs) => call(() => wasm.referenceSchedule(lr, epochs)),
  setNumThreads: (n) => call(() => wasm.setNumThreads(n)),
  memoryEstimate: (configJson, shape, dtype) => call(() => wasm.memoryEstimate(configJson, u32(shape), dtype)),
  currentNumThreads: () => call(() => wasm.currentNumThreads()),
  /** Whether the GEMM kernels use SIMD128 (true in this build). */
  gemmSimd128: () => call(() => wasm.gemmSimd128()),
  /** Test hook: a Rust panic (aborts the module instance: ERR_INTERNAL now and on every later call). */
  __panicForTests: (message) => call(() => wasm.__panicForTests(message)),
  backend: 'wasm32',
};

/** Whether this thread may run the threaded module: shared memory allowed, and not a page's main thread. */
function threadsAllowed() {
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function' && typeof globalThis.WorkerGlobalScope === 'function';
}

/** Milliseconds the pool's workers may take to start. */
const START_TIMEOUT_MS = 30000;

/** Loads the threaded module, starts `threads` Web Workers on it and, once all run, rayon's pool on them. */
async function initThreaded(source, threads) {
  const glue = await import('./web-threads/densenet_wasm.js');
  const module = source instanceof WebAssembly.Module ? source : await compiledModule(source);
  const exports = await glue.default({ module_or_path: module });
  const started = [];
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(new URL('./browser-worker.mjs', import.meta.url), { type: 'module' });
    started.push(new Promise((resolve, reject) => {
      worker.onmessage = (e) => (e.data === 'ready' ? resolve() : reject(new Error(String(e.data))));
      worker.onerror = (e) => reject(new Error(`a WASM worker thread failed to start: ${e.message || 'error'}`));
    }));
    worker.postMessage({ module, memory: exports.memory });
  }
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(coded('ERR_INTERNAL', `the ${threads} WASM worker threads did not start within ${START_TIMEOUT_MS / 1000} s; init with { threads: 1 }`)), START_TIMEOUT_MS);
  });
  try {
    await Promise.race([Promise.all(started), timeout]);
  } finally {
    clearTimeout(timer);
  }
  // Every worker waits in runThread(): hand them rayon's pool (returns once all run it).
  glue.startThreadPool(threads);
  return glue;
}

/** The threaded module compiled (the workers instantiate the same one): from `source` or next to the glue. */
async function compiledModule(source) {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return WebAssembly.compile(source);
  const response = await (source === undefined ? fetch(new URL('./web-threads/densenet_wasm_bg.wasm', import.meta.url)) : source instanceof Response || source instanceof Promise ? source : fetch(source));
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * Instantiates the module once and resolves to the binding. `source`: nothing (fetch the .wasm
 * next to this file), or bytes, a `Response`/`Promise<Response>`, a URL, or a `WebAssembly.Module`.
 * `options.threads`: the pool size (see the top of this file); a value above 1 where threads are
 * not allowed is refused with ERR_INVALID_ARG naming why.
 */
export function init(source, options = {}) {
  if (ready === null) {
    ready = (async () => {
      const threads = options.threads ?? (threadsAllowed() ? Math.min(64, navigator.hardwareConcurrency || 1) : 1);
      if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw coded('ERR_INVALID_ARG', `threads must be an integer in 1..256, got ${threads}`);
      if (threads > 1 && !threadsAllowed()) {
        const why = globalThis.crossOriginIsolated !== true ? 'the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp)' : 'this is the main thread (run the model in a Worker)';
        throw coded('ERR_INVALID_ARG', `threads: ${threads} needs shared memory in a Worker, but ${why}`);
      }
      if (threads > 1) {
        wasm = await initThreaded(source, threads);
      } else if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
        wasm.initSync({ module: source });
      } else {
        await wbInit(source === undefined ? undefined : { module_or_path: source });
      }
      return binding;
    })();
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}
