// The embedded MNIST asset: 10,000 real digits, identical to the `mnist` package's data.
import test from 'ava';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { loadMnist, decodeMnistAsset, computeNormalization, NORMALIZATION, MNIST_ASSET_PATH, DataError, loadDataset } from '../ts/data/index.js';

test('MNIST asset: 10,000 digits, 1x28x28, labels 0-9 all present', async (t) => {
  const ds = await loadMnist();
  t.is(ds.length, 10000);
  t.deepEqual([ds.channels, ds.height, ds.width, ds.numClasses], [1, 28, 28, 10]);
  const counts = new Array(10).fill(0);
  for (const l of ds.labels) counts[l]++;
  t.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  // Real digits: mostly background, some full-intensity strokes.
  const s = ds.get(1234).pixels;
  t.is(s.length, 784);
  const on = s.filter((v) => v > 128).length;
  t.true(on > 30 && on < 400, `${on} bright pixels`);
  t.true(s.some((v) => v >= 250));
});

test('MNIST asset equals the mnist package data (bytes = round(v * 255))', (t) => {
  const require = createRequire(import.meta.url);
  let raw: number[][];
  try {
    raw = Array.from({ length: 10 }, (_, d) => require(`mnist/src/digits/${d}.json`).data as number[]);
  } catch {
    t.pass('mnist devDependency not installed; skipped');
    return;
  }
  const ds = decodeMnistAsset(readFileSync(MNIST_ASSET_PATH));
  let k = 0;
  let mismatches = 0;
  for (let d = 0; d < 10; d++) {
    const n = raw[d]!.length / 784;
    for (let i = 0; i < n; i++, k++) {
      if (ds.labels[k] !== d) mismatches++;
      const px = ds.get(k).pixels;
      for (let j = 0; j < 784; j += 7) if (px[j] !== Math.round(raw[d]![i * 784 + j]! * 255)) mismatches++;
    }
  }
  t.is(k, 10000);
  t.is(mismatches, 0);
});

test('MNIST pad32: 1x32x32, digit centred with a 2-pixel zero border', async (t) => {
  const a = await loadMnist();
  const b = await loadMnist({ pad32: true });
  t.deepEqual([b.channels, b.height, b.width, b.length], [1, 32, 32, 10000]);
  t.deepEqual(b.labels, a.labels);
  const x = a.get(42).pixels;
  const y = b.get(42).pixels;
  for (let r = 0; r < 32; r++)
    for (let c = 0; c < 32; c++) {
      const inside = r >= 2 && r < 30 && c >= 2 && c < 30;
      if (y[r * 32 + c] !== (inside ? x[(r - 2) * 28 + (c - 2)] : 0)) t.fail(`pixel ${r},${c}`);
    }
  t.is((await loadDataset('mnist', { pad32: true })).height, 32);
});

test('MNIST normalization presets match the statistics of the asset', async (t) => {
  for (const [pad32, key] of [
    [false, 'mnist'],
    [true, 'mnist-32'],
  ] as const) {
    const stats = computeNormalization(await loadMnist({ pad32 }));
    t.true(Math.abs(stats.mean[0]! - NORMALIZATION[key].mean[0]!) < 1e-7, `${key} mean ${stats.mean[0]}`);
    t.true(Math.abs(stats.std[0]! - NORMALIZATION[key].std[0]!) < 1e-7, `${key} std ${stats.std[0]}`);
  }
});

test('a damaged MNIST asset is a DataError', (t) => {
  const good = readFileSync(MNIST_ASSET_PATH);
  t.throws(() => decodeMnistAsset(good.subarray(0, 1000), 'cut.gz'), { instanceOf: DataError, message: /cut\.gz: not a complete gzip/ });
  t.throws(() => decodeMnistAsset(gzipSync(Buffer.from('not an asset')), 'x.gz'), { instanceOf: DataError, message: /x\.gz: not a version-1 DNMN/ });
});
