// Readers on small real-format files generated into a temp dir: CIFAR-10 (binary and python), CIFAR-100, SVHN,
// and their error cases; the "not found" message; loadDataset dispatch.
import test from 'ava';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  DataError,
  loadCifar10,
  loadCifar10Python,
  loadCifar100,
  loadSvhn,
  loadDataset,
  writeTar,
  CIFAR10_CLASSES,
} from '../ts/data/index.js';
import { cifarRecords, py2CifarBatch, py2Meta, matFile, matMatrix, svhnX, MI } from './fixtures/data/writers.js';

const tmps: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'densenet-data-'));
  tmps.push(d);
  return d;
}
test.after.always(async () => {
  for (const d of tmps) await rm(d, { recursive: true, force: true });
});

/** Pixel j of record i of batch b: distinct enough to catch off-by-one record or batch order errors. */
const pix = (b: number) => (i: number, j: number) => (b * 31 + i * 7 + j) % 251;

async function writeCifar10Bin(dir: string, perBatch = 3): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) {
    const labels = Array.from({ length: perBatch }, (_, i) => (b + i) % 10);
    await writeFile(path.join(dir, `data_batch_${b}.bin`), cifarRecords(labels, pix(b)));
  }
  await writeFile(path.join(dir, 'test_batch.bin'), cifarRecords([9, 8], pix(0)));
  await writeFile(path.join(dir, 'batches.meta.txt'), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', '', ''].join('\n'));
}

test('CIFAR-10 binary: train concatenates the five batches in order, test reads test_batch, class names from meta', async (t) => {
  const root = await tmp();
  await writeCifar10Bin(path.join(root, 'cifar-10-batches-bin'));
  const train = await loadCifar10(root); // finds the subfolder
  t.is(train.name, 'cifar10-train');
  t.is(train.length, 15);
  t.deepEqual([train.channels, train.height, train.width, train.numClasses], [3, 32, 32, 10]);
  t.deepEqual(train.classNames, ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
  for (let b = 1; b <= 5; b++) {
    for (let i = 0; i < 3; i++) {
      const s = train.get((b - 1) * 3 + i);
      t.is(s.label, (b + i) % 10);
      t.is(s.pixels.length, 3072);
      t.is(s.pixels[0], pix(b)(i, 0));
      t.is(s.pixels[3071], pix(b)(i, 3071));
    }
  }
  const testSet = await loadCifar10(path.join(root, 'cifar-10-batches-bin'), { split: 'test' }); // or the folder itself
  t.deepEqual([...testSet.labels], [9, 8]);
  t.is(testSet.get(1).pixels[1024], pix(0)(1, 1024)); // first green byte
  t.throws(() => train.get(15), { instanceOf: DataError });
});

test('CIFAR-10 binary: truncated file, bad label, empty file name the file and record', async (t) => {
  const root = await tmp();
  await writeCifar10Bin(root);
  const f3 = path.join(root, 'data_batch_3.bin');
  const good = cifarRecords([1, 2, 3], pix(3));
  await writeFile(f3, good.subarray(0, 2 * 3073 + 100));
  let e = await t.throwsAsync(loadCifar10(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_BAD_RECORD_SIZE');
  t.is(e!.file, f3);
  t.is(e!.index, 2);
  t.true(e!.message.startsWith(`${f3}: record 2: size 6246 is not a multiple of the 3073-byte record`));

  const bad = good.slice();
  bad[3073 * 2] = 10; // label of record 2
  await writeFile(f3, bad);
  e = await t.throwsAsync(loadCifar10(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_LABEL_OUT_OF_RANGE');
  t.is(e!.message, `${f3}: record 2: label 10 out of range [0, 10)`);

  await writeFile(f3, new Uint8Array(0));
  e = await t.throwsAsync(loadCifar10(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_TRUNCATED');
  t.regex(e!.message, /data_batch_3\.bin: file is empty/);
});

test('CIFAR-10 binary: without batches.meta.txt the standard class names are used', async (t) => {
  const root = await tmp();
  await writeCifar10Bin(root);
  await rm(path.join(root, 'batches.meta.txt'));
  t.deepEqual((await loadCifar10(root, { split: 'test' })).classNames, CIFAR10_CLASSES);
});

test('CIFAR-100 binary: fine and coarse labels, names from the label files, errors', async (t) => {
  const root = await tmp();
  const dir = path.join(root, 'cifar-100-binary');
  await mkdir(dir);
  const labels: [number, number][] = [
    [4, 30],
    [19, 99],
    [0, 0],
  ];
  await writeFile(path.join(dir, 'train.bin'), cifarRecords(labels, pix(1)));
  await writeFile(path.join(dir, 'test.bin'), cifarRecords([[1, 2]], pix(2)));
  await writeFile(path.join(dir, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `c${i}`).join('\n') + '\n');
  const fine = await loadCifar100(root);
  t.is(fine.numClasses, 100);
  t.deepEqual([...fine.labels], [30, 99, 0]);
  t.is(fine.classNames, undefined); // no fine_label_names.txt
  t.is(fine.get(1).pixels[5], pix(1)(1, 5));
  const coarse = await loadCifar100(root, { labels: 'coarse' });
  t.is(coarse.numClasses, 20);
  t.deepEqual([...coarse.labels], [4, 19, 0]);
  t.is(coarse.classNames![19], 'c19');
  t.is(coarse.name, 'cifar100-train-coarse');
  t.deepEqual([...(await loadCifar100(root, { split: 'test' })).labels], [2]);

  const bad = cifarRecords(labels, pix(1));
  bad[3074 + 1] = 100; // fine label of record 1
  await writeFile(path.join(dir, 'train.bin'), bad);
  const e = await t.throwsAsync(loadCifar100(root), { instanceOf: DataError });
  t.is(e!.message, `${path.join(dir, 'train.bin')}: record 1: label 100 out of range [0, 100)`);
  // The same file is fine for coarse labels.
  t.is((await loadCifar100(root, { labels: 'coarse' })).length, 3);
  await writeFile(path.join(dir, 'train.bin'), bad.subarray(0, 3073));
  const e2 = await t.throwsAsync(loadCifar100(root), { instanceOf: DataError });
  t.is(e2!.code, 'ERR_DATA_BAD_RECORD_SIZE');
  t.is(e2!.index, 0);
});

/** A fake cifar-10-python.tar.gz with Python-2-style pickles, `perBatch` records per batch. */
function cifarPythonArchive(perBatch: number): Uint8Array {
  const entries = [{ name: 'cifar-10-batches-py/' }];
  const files: { name: string; data: Uint8Array }[] = [];
  for (let b = 1; b <= 5; b++) {
    const px = new Uint8Array(perBatch * 3072);
    for (let i = 0; i < perBatch; i++) for (let j = 0; j < 3072; j++) px[i * 3072 + j] = pix(b)(i, j);
    files.push({
      name: `cifar-10-batches-py/data_batch_${b}`,
      data: py2CifarBatch(px, Array.from({ length: perBatch }, (_, i) => (b * 2 + i) % 10), `training batch ${b} of 5`),
    });
  }
  const tp = new Uint8Array(3072).fill(200);
  files.push({ name: 'cifar-10-batches-py/test_batch', data: py2CifarBatch(tp, [7], 'testing batch 1 of 1') });
  files.push({ name: 'cifar-10-batches-py/batches.meta', data: py2Meta([...CIFAR10_CLASSES].map((s) => s.toUpperCase()), perBatch) });
  files.push({ name: 'cifar-10-batches-py/readme.html', data: new TextEncoder().encode('<html></html>') });
  return gzipSync(writeTar([...entries, ...files]));
}

test('CIFAR-10 python: straight from the .tar.gz (tar + pickle readers), and from the extracted folder', async (t) => {
  const root = await tmp();
  const archive = path.join(root, 'cifar-10-python.tar.gz');
  await writeFile(archive, cifarPythonArchive(2));
  for (const src of [archive, root]) {
    const train = await loadCifar10Python(src);
    t.is(train.length, 10);
    t.deepEqual([...train.labels], [2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    t.is(train.get(9).pixels[77], pix(5)(1, 77));
    t.is(train.classNames![0], 'AIRPLANE');
    const te = await loadCifar10Python(src, { split: 'test' });
    t.deepEqual([...te.labels], [7]);
    t.true(te.get(0).pixels.every((v) => v === 200));
  }
  // Extracted layout
  const root2 = await tmp();
  const dir = path.join(root2, 'cifar-10-batches-py');
  await mkdir(dir);
  const px = new Uint8Array(3072).fill(9);
  for (let b = 1; b <= 5; b++) await writeFile(path.join(dir, `data_batch_${b}`), py2CifarBatch(px, [b], 'x'));
  await writeFile(path.join(dir, 'test_batch'), py2CifarBatch(px, [0], 'x'));
  const ex = await loadCifar10Python(root2);
  t.deepEqual([...ex.labels], [1, 2, 3, 4, 5]);
  t.deepEqual(ex.classNames, CIFAR10_CLASSES);
  // loadDataset falls back to the python version when the binary one is absent
  t.deepEqual([...(await loadDataset('cifar10', { root: root2 })).labels], [1, 2, 3, 4, 5]);
});

test('CIFAR-10 python: bad label and a cut archive are DataErrors naming the member/record', async (t) => {
  const root = await tmp();
  const dir = path.join(root, 'cifar-10-batches-py');
  await mkdir(dir);
  const px = new Uint8Array(2 * 3072);
  for (let b = 1; b <= 5; b++) await writeFile(path.join(dir, `data_batch_${b}`), py2CifarBatch(px, b === 4 ? [1, 12] : [1, 2], 'x'));
  const e = await t.throwsAsync(loadCifar10Python(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_LABEL_OUT_OF_RANGE');
  t.is(e!.message, `${path.join(dir, 'data_batch_4')}: record 1: label 12 out of range [0, 10)`);

  const root2 = await tmp();
  const archive = path.join(root2, 'cifar-10-python.tar.gz');
  const whole = cifarPythonArchive(1);
  await writeFile(archive, whole.subarray(0, whole.length - 40));
  const e2 = await t.throwsAsync(loadCifar10Python(archive), { instanceOf: DataError });
  t.is(e2!.code, 'ERR_DATA_TRUNCATED');
  t.true(e2!.message.startsWith(`${archive}: `));
});

async function writeSvhn(dir: string, split: string, n: number, y: number[], compress: boolean): Promise<string> {
  await mkdir(dir, { recursive: true });
  const f = path.join(dir, `${split}_32x32.mat`);
  await writeFile(
    f,
    matFile([matMatrix('X', 9, [32, 32, 3, n], MI.UINT8, svhnX(n), true), matMatrix('y', 6, [n, 1], MI.DOUBLE, new Float64Array(y), true)], {
      compress,
      le: true,
    }),
  );
  return f;
}

test('SVHN: compressed and uncompressed .mat, label 10 → 0, CHW pixels', async (t) => {
  const root = await tmp();
  await writeSvhn(path.join(root, 'svhn'), 'train', 4, [10, 1, 5, 9], true);
  await writeSvhn(root, 'test', 2, [3, 10], false);
  const train = await loadSvhn(root);
  t.is(train.name, 'svhn-train');
  t.deepEqual([...train.labels], [0, 1, 5, 9]);
  t.deepEqual([train.channels, train.height, train.width], [3, 32, 32]);
  const p = train.get(3).pixels;
  t.is(p[1 * 1024 + 10 * 32 + 20], (3 * 10 + 5 * 20 + 50 + 300) % 256); // c=1, h=10, w=20, n=3
  const te = await loadSvhn(root, { split: 'test' });
  t.deepEqual([...te.labels], [3, 0]);
  t.is(te.get(1).pixels[2 * 1024 + 31 * 32 + 0], (93 + 100 + 100) % 256);
});

test('SVHN: label out of range, truncated file and bad header name the file (and record)', async (t) => {
  const root = await tmp();
  const f = await writeSvhn(root, 'train', 3, [1, 11, 2], false);
  let e = await t.throwsAsync(loadSvhn(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_LABEL_OUT_OF_RANGE');
  t.is(e!.message, `${f}: record 1: label 11 out of range 1..10`);
  await writeSvhn(root, 'train', 3, [1, 0.5, 2], true);
  e = await t.throwsAsync(loadSvhn(root), { instanceOf: DataError });
  t.is(e!.index, 1);
  const whole = matFile([matMatrix('X', 9, [32, 32, 3, 2], MI.UINT8, svhnX(2), true)], { compress: false, le: true });
  await writeFile(f, whole.subarray(0, 5000));
  e = await t.throwsAsync(loadSvhn(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_TRUNCATED');
  t.regex(e!.message, /train_32x32\.mat: data element 0/);
  await writeFile(f, new TextEncoder().encode('<html>404 Not Found</html>'));
  e = await t.throwsAsync(loadSvhn(root), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_BAD_FORMAT');
  t.regex(e!.message, /train_32x32\.mat: bad \.mat header/);
  // X present but y missing
  await writeFile(f, whole);
  e = await t.throwsAsync(loadSvhn(root), { instanceOf: DataError });
  t.regex(e!.message, /expected variables X and y, found X/);
});

test('a missing data set says where it looked and how to download it', async (t) => {
  const root = await tmp();
  const e = await t.throwsAsync(loadDataset('cifar10', { root }), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_NOT_FOUND');
  t.true(e!.message.includes(path.join(root, 'data_batch_1.bin')));
  t.true(e!.message.includes(path.join(root, 'cifar-10-batches-bin', 'data_batch_1.bin')));
  t.true(e!.message.includes('--download'));
  t.true(e!.message.includes(`downloadDataset('cifar10'`));
  t.true(e!.message.includes('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'));
  const e2 = await t.throwsAsync(loadDataset('svhn', { root, split: 'extra' }), { instanceOf: DataError });
  t.true(e2!.message.includes(path.join(root, 'svhn', 'extra_32x32.mat')));
  t.true(e2!.message.includes(`downloadDataset('svhn-extra'`));
  const e3 = await t.throwsAsync(loadCifar100(root), { instanceOf: DataError });
  t.true(e3!.message.includes(path.join(root, 'cifar-100-binary', 'train.bin')));
  await t.throwsAsync(loadDataset('cifar10', { root, split: 'extra' }), { instanceOf: DataError, message: /only for svhn/ });
  await t.throwsAsync(loadDataset('nope' as 'cifar10', { root }), { instanceOf: DataError, message: /unknown data set/ });
});
