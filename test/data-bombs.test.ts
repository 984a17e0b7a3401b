/**
 * Decompression is bounded by the size the format declares: a small file never makes a reader
 * allocate hundreds of MiB (gzip's ISIZE trailer; a MAT miCOMPRESSED element's inner tag).
 */
import { deflateSync, gzipSync } from 'node:zlib';

import test from 'ava';

import { DataError } from '../ts/index.js';
import { readMat } from '../ts/data/mat.js';
import { unpickle } from '../ts/data/pickle.js';
import { decodeMnistAsset } from '../ts/data/mnist.js';
import { boundedGunzip } from '../ts/data/inflate.js';
import { matFile, matMatrix } from './fixtures/data/writers.js';

const MI_UINT8 = 2;

test('a gzip stream that inflates past its declared size is a DataError, refused without the allocation', (t) => {
  const bomb = Buffer.from(gzipSync(Buffer.alloc(256 << 20), { level: 9 })); // 256 MiB of zeros in ~250 KiB
  t.true(bomb.length < 1 << 20, `the bomb is small (${bomb.length} bytes)`);
  bomb.writeUInt32LE(4096, bomb.length - 4); // its trailer now declares 4 KiB
  const rssBefore = process.memoryUsage().rss;
  const err = t.throws(() => decodeMnistAsset(bomb, 'bomb.gz'), { instanceOf: DataError });
  t.is(err?.code, 'ERR_DATA_BAD_FORMAT');
  t.regex(err?.message ?? '', /decompresses past/);
  t.is(err?.file, 'bomb.gz');
  t.true(process.memoryUsage().rss - rssBefore < 64 << 20, 'no large allocation happened');
  // An honest stream of the same size still decompresses.
  const honest = gzipSync(Buffer.alloc(1 << 20, 7));
  t.is(boundedGunzip(honest, 'honest.gz').length, 1 << 20);
});

test('a MAT miCOMPRESSED element that inflates past the size its inner tag declares is a DataError', (t) => {
  const le = true;
  // A real variable, then a bomb: an element whose tag declares 16 bytes but holds 64 MiB.
  const good = matMatrix('y', 6, [1, 3], MI_UINT8, [1, 2, 3], le);
  const inner = Buffer.alloc(64 << 20);
  inner.writeUInt32LE(14, 0); // miMATRIX
  inner.writeUInt32LE(16, 4); // declares 16 bytes
  const file = matFile([good], { compress: true, le });
  const z = deflateSync(inner, { level: 9 });
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(15, 0); // miCOMPRESSED
  tag.writeUInt32LE(z.length, 4);
  const withBomb = Buffer.concat([Buffer.from(file), tag, z]);
  const err = t.throws(() => readMat(withBomb, 'bomb.mat'), { instanceOf: DataError });
  t.is(err?.code, 'ERR_DATA_BAD_FORMAT');
  t.regex(err?.message ?? '', /data element 1: compressed data decompresses past/);
  // Without the bomb the file reads.
  t.deepEqual([...readMat(file, 'good.mat').keys()], ['y']);
});

test('a pickle nested 200,000 levels deep is a DataError, not a stack overflow', (t) => {
  const n = 200_000;
  // PROTO 2, n × EMPTY_LIST, (n-1) × APPEND, STOP: lists nested n deep.
  const deep = Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(n, 0x5d), Buffer.alloc(n - 1, 0x61), Buffer.from('.')]);
  const err = t.throws(() => unpickle(deep, 'deep.pkl'), { instanceOf: DataError });
  t.is(err?.code, 'ERR_DATA_BAD_FORMAT');
  t.regex(err?.message ?? '', /deeper than 1000 levels/);
});
