'use strict';
// Node entry of @densenet-sdk/wasm32: the binding interface of the native addon (ts/native-api.md)
// over the wasm-bindgen module in node/ (built by scripts/build-wasm.sh).
//
// - File paths: the module works on bytes (weightsBytes, loadWeightsBytes, checkpointBytes,
//   loadCheckpointBytes); save/load/saveCheckpoint/loadCheckpoint by path are implemented here with
//   node:fs, with the native binding's rules (special files refused, atomic writes, ERR_IO).
// - Async methods return Promises (the compute itself is synchronous on the caller's thread, with
//   the thread pool of threads.cjs when DENSENET_WASM_THREADS is not 1).
// - Errors: the module throws JS Errors with `code` set (ERR_SHAPE, ...). A Rust panic aborts the
//   call (panic=abort; wasm traps with a RuntimeError): it becomes ERR_INTERNAL with the panic's
//   message, and the module instance is marked unusable, since the trap may have left state half
//   updated; every later call fails with ERR_INTERNAL. Reload the process to recover.
const fs = require('node:fs');
const path = require('node:path');

const wasm = require('./node/densenet_wasm.js');
const { requestedThreads, startThreads } = require('./threads.cjs');

let aborted = null;
// The thread pool, before any computation (currentNumThreads() reports its size).
startThreads(wasm, requestedThreads());

function coded(code, message, cause) {
  const err = new Error(message, cause === undefined ? undefined : { cause });
  err.code = code;
  return err;
}

function fromTrap(err) {
  if (err instanceof WebAssembly.RuntimeError) {
    let msg;
    try {
      msg = wasm.takePanicMessage();
    } catch {
      msg = undefined;
    }
    aborted = msg || `wasm trap: ${err.message}`;
    return coded('ERR_INTERNAL', aborted, err);
  }
  return err;
}

function call(fn) {
  if (aborted !== null) throw coded('ERR_INTERNAL', `the WASM module aborted on an earlier error and cannot be used any more: ${aborted}`);
  try {
    return fn();
  } catch (err) {
    throw fromTrap(err);
  }
}

async function callAsync(fn) {
  return call(fn);
}

function ioError(message, cause) {
  return coded('ERR_IO', message, cause);
}

function describe(err) {
  return err && err.message ? err.message : String(err);
}

function kind(st) {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

/** Reads a whole regular file; directories, FIFOs, sockets and devices are refused up front. */
async function readFile(p) {
  let st;
  try {
    st = await fs.promises.stat(p);
  } catch (err) {
    throw ioError(`cannot read '${p}': ${describe(err)}`, err);
  }
  if (!st.isFile()) throw ioError(`cannot read '${p}': it is ${kind(st)}, not a regular file`);
  try {
    return await fs.promises.readFile(p);
  } catch (err) {
    throw ioError(`cannot read '${p}': ${describe(err)}`, err);
  }
}

/** Writes to a temporary file beside `p` (its extension replaced by tmp-<pid>), syncs, renames. */
async function writeAtomic(p, bytes) {
  let isDir = false;
  try {
    isDir = (await fs.promises.stat(p)).isDirectory();
  } catch {
    /* absent: fine */
  }
  if (isDir) throw ioError(`cannot write '${p}': it is a directory; give a file path`);
  const ext = path.extname(p);
  const tmp = `${ext ? p.slice(0, -ext.length) : p}.tmp-${process.pid}`;
  try {
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, p);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw ioError(`cannot write '${p}': ${describe(err)}`, err);
  }
}

function u32(shape) {
  return Uint32Array.from(shape);
}

class NativeModel {
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
  /** The weights as safetensors bytes (what `save` writes). */
  weightsBytes(metadataJson) {
    return call(() => this.#m.weightsBytes(metadataJson ?? undefined));
  }
  /** Loads safetensors bytes; `sourceName` names them in errors. */
  loadWeightsBytes(bytes, sourceName) {
    call(() => this.#m.loadWeightsBytes(bytes, sourceName ?? '<bytes>'));
  }
  loadCheckpointBytes(bytes, sourceName) {
    return call(() => this.#m.loadCheckpointBytes(bytes, sourceName ?? '<bytes>'));
  }
  async save(p, metadataJson) {
    const bytes = this.weightsBytes(metadataJson);
    await writeAtomic(p, bytes);
  }
  async load(p) {
    call(() => this.#m.step); // a disposed model fails before touching the file
    const bytes = await readFile(p);
    this.loadWeightsBytes(bytes, p);
  }
  async saveCheckpoint(p, extraJson) {
    const bytes = this.checkpointBytes(extraJson);
    await writeAtomic(p, bytes);
  }
  async loadCheckpoint(p) {
    call(() => this.#m.step);
    const bytes = await readFile(p);
    return this.loadCheckpointBytes(bytes, p);
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
  /** Test hook (an 'f64' model): one training step on a float64 input; returns [loss, ...logits]. */
  trainStepF64(input, shape, labels) {
    return call(() => this.#m.trainStepF64(input, u32(shape), labels));
  }
  /** Test hook (an 'f64' model): the gradient buffers of the last step, flat, in planSpecs order. */
  gradsF64() {
    return call(() => this.#m.gradsF64());
  }
  dispose() {
    if (aborted !== null) return;
    call(() => this.#m.dispose());
  }
}

module.exports = {
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
  /** Threads the compute runs on (1: rayon falls back to the calling thread). */
  currentNumThreads: () => call(() => wasm.currentNumThreads()),
  /** Whether the GEMM kernels use SIMD128 (true in this build). */
  gemmSimd128: () => call(() => wasm.gemmSimd128()),
  /** Test hook: a Rust panic (aborts the module instance: ERR_INTERNAL now and on every later call). */
  __panicForTests: (message) => call(() => wasm.__panicForTests(message)),
  /** Test hook: float64 logits of a float64 model from safetensors bytes on a float64 input. */
  predictF64: (configJson, weights, input, shape) => call(() => wasm.predictF64(configJson, weights, input, u32(shape))),
  /** Test hook: a config's tensors (name, numel, trainable) in the order of trainTraceF64. */
  planSpecs: (configJson) => call(() => wasm.planSpecs(configJson)),
  /** Test hook: float64 SGD steps for the PyTorch training fixtures (see crates/densenet-wasm). */
  trainTraceF64: (configJson, weights, inputs, shape, labels, steps, optimizerJson, memoryMode) =>
    call(() => wasm.trainTraceF64(configJson, weights, inputs, u32(shape), labels, steps, optimizerJson, memoryMode)),
  /** 'wasm32' */
  backend: 'wasm32',
};
