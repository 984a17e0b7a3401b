// Our side of benches/gpu/check.py: one task per run, one JSON line on stdout. Runs the native
// addon directly (DENSENET_NATIVE_PATH: the CUDA build on the GPU machine, the CPU build in
// --dry-run), so the GPU machine needs only this file, the addon and a Node binary.
//
//   node ours.mjs '{"task":"parity","device":"cuda","config":{...},"dir":"/tmp/x","batch":16,"size":32}'
//   node ours.mjs '{"task":"bench","device":"cuda","config":{...},"batch":64,"size":32,"mode":"efficient","warmup":3,"steps":20}'
//   node ours.mjs '{"task":"step","device":"cuda","config":{...},"batch":64,"size":224,"mode":"efficient"}'
//   node ours.mjs '{"task":"nccl","ncclDevice":"cuda"}'   (NCCL smoke, world of 1; ERR_DEVICE on the CPU build)
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const addon = require(process.env.DENSENET_NATIVE_PATH);
const args = JSON.parse(process.argv[2]);

function model(a) {
  const config = a.preset ? JSON.parse(addon.presetConfig(a.preset)) : a.config;
  const m = new addon.NativeModel(JSON.stringify(config), 'f32', a.seed ?? 0, a.device);
  m.setMemoryMode(a.mode ?? 'efficient');
  return m;
}

function randomBatch(n, c, size, classes, seed) {
  let s = BigInt(seed) * 0x9e3779b97f4a7c15n;
  const next = () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) >> 11n) / 2 ** 53;
  };
  // A cheap generator for big batches: a short random pattern repeated with a varying offset.
  const pattern = Float32Array.from({ length: 4099 }, () => 2 * next() - 1);
  const x = new Float32Array(n * c * size * size);
  for (let i = 0; i < x.length; i++) x[i] = pattern[(i * 7 + (i >> 12)) % pattern.length];
  const y = Int32Array.from({ length: n }, () => Math.floor(next() * classes));
  return { x, y, shape: [n, c, size, size] };
}

function errorInfo(e) {
  return { code: e.code ?? 'ERR_UNKNOWN', message: String(e.message ?? e) };
}

async function main() {
  const t0 = performance.now();
  if (args.task === 'parity') {
    // Inputs written by check.py: x.f32 (NCHW), y.i32.
    // (A Buffer may be a view into a shared pool: copy exactly its bytes.)
    const bytes = (p) => {
      const b = readFileSync(join(args.dir, p));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    };
    const x = new Float32Array(bytes('x.f32'));
    const y = new Int32Array(bytes('y.i32'));
    const shape = [args.batch, 3, args.size, args.size];
    const m = model(args);
    // The weights come from check.py (PyTorch's init, BN affine randomized): torchvision names.
    await m.load(join(args.dir, 'w0.safetensors'));
    const ev = await m.evalStep(x, shape, y);
    // Weight decay 0: after the first step the momentum buffer is exactly the gradient.
    m.setOptimizer(JSON.stringify({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0 }));
    const tr = await m.trainStep(x, shape, y);
    await m.saveCheckpoint(join(args.dir, 'c1.safetensors'), '{}');
    console.log(JSON.stringify({ evalLoss: ev.loss, evalLogits: Array.from(ev.logits), trainLoss: tr.loss, seconds: (performance.now() - t0) / 1000 }));
    return;
  }
  if (args.task === 'nccl') {
    try {
      if (typeof addon.cudaNcclSmoke !== 'function') {
        throw Object.assign(new Error('this addon has no cudaNcclSmoke (built before the NCCL path): rebuild it'), { code: 'ERR_NATIVE_LOAD' });
      }
      const r = addon.cudaNcclSmoke(args.ncclDevice ?? 'cuda');
      console.log(JSON.stringify({ ...r, seconds: (performance.now() - t0) / 1000 }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, ...errorInfo(e) }));
    }
    return;
  }
  const classes = (args.preset ? JSON.parse(addon.presetConfig(args.preset)) : args.config).numClasses ?? 10;
  const b = randomBatch(args.batch, 3, args.size, classes, 1);
  if (args.task === 'bench') {
    const m = model(args);
    for (let i = 0; i < args.warmup; i++) await m.trainStep(b.x, b.shape, b.y);
    const times = [];
    for (let i = 0; i < args.steps; i++) {
      const t = performance.now();
      await m.trainStep(b.x, b.shape, b.y);
      times.push((performance.now() - t) / 1000);
    }
    times.sort((p, q) => p - q);
    const median = times[Math.floor(times.length / 2)];
    console.log(JSON.stringify({ ok: true, median, imgPerSec: args.batch / median }));
    return;
  }
  if (args.task === 'step') {
    try {
      const m = model(args);
      const t = performance.now();
      const r = await m.trainStep(b.x, b.shape, b.y);
      console.log(JSON.stringify({ ok: true, seconds: (performance.now() - t) / 1000, loss: r.loss }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, ...errorInfo(e) }));
    }
    return;
  }
  throw new Error(`unknown task ${args.task}`);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, ...errorInfo(e) }));
  process.exit(1);
});
