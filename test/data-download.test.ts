// downloadDataset against a loopback HTTP server (127.0.0.1 only, never the internet), with fake archives.
import test from 'ava';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import {
  downloadDataset,
  loadCifar10,
  loadSvhn,
  loadDataset,
  writeTar,
  DataError,
  DATASET_MD5,
  DATASET_SOURCES,
} from '../ts/data/index.js';
import { cifarRecords, matFile, matMatrix, svhnX, MI } from './fixtures/data/writers.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

const files = new Map<string, Uint8Array>();
const requests: string[] = [];
let server: Server;
let baseUrl = '';
const tmps: string[] = [];

async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'densenet-dl-'));
  tmps.push(d);
  return d;
}

/** Every file under `dir`, relative, recursively ([] if `dir` does not exist). */
async function listAll(dir: string): Promise<string[]> {
  try {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) out.push(...(await listAll(path.join(dir, e.name))).map((f) => `${e.name}/${f}`));
      else out.push(e.name);
    }
    return out.sort();
  } catch {
    return [];
  }
}

const cifarArchive = gzipSync(
  writeTar([
    { name: 'cifar-10-batches-bin/' },
    ...[1, 2, 3, 4, 5].map((b) => ({ name: `cifar-10-batches-bin/data_batch_${b}.bin`, data: cifarRecords([b, b + 1], (i, j) => i + j + b) })),
    { name: 'cifar-10-batches-bin/test_batch.bin', data: cifarRecords([0], () => 5) },
    { name: 'cifar-10-batches-bin/batches.meta.txt', data: new TextEncoder().encode('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n') },
    { name: 'cifar-10-batches-bin/readme.html', data: new TextEncoder().encode('<p>fake</p>') },
  ]),
);
const svhnMat = (n: number, y: number[]) =>
  matFile([matMatrix('X', 9, [32, 32, 3, n], MI.UINT8, svhnX(n), true), matMatrix('y', 6, [n, 1], MI.DOUBLE, new Float64Array(y), true)], {
    compress: true,
    le: true,
  });
const svhnTrain = svhnMat(3, [1, 10, 4]);
const svhnTest = svhnMat(1, [7]);
const evilArchive = gzipSync(writeTar([{ name: 'cifar-100-binary/train.bin', data: new Uint8Array(3074) }, { name: '../escaped.txt', data: new Uint8Array(1) }]));

const goodMd5 = {
  'cifar-10-binary.tar.gz': md5(cifarArchive),
  'train_32x32.mat': md5(svhnTrain),
  'test_32x32.mat': md5(svhnTest),
  'cifar-100-binary.tar.gz': md5(evilArchive),
};

test.before(async () => {
  files.set('/mirror/cifar-10-binary.tar.gz', cifarArchive);
  files.set('/mirror/train_32x32.mat', svhnTrain);
  files.set('/mirror/test_32x32.mat', svhnTest);
  files.set('/mirror/cifar-100-binary.tar.gz', evilArchive);
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    // Send in two chunks to exercise streaming.
    res.write(body.subarray(0, body.length >> 1));
    setTimeout(() => res.end(body.subarray(body.length >> 1)), 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror`;
});

test.after.always(async () => {
  await new Promise((resolve) => server?.close(resolve));
  for (const d of tmps) await rm(d, { recursive: true, force: true });
});

test('the published MD5 table and official URLs', (t) => {
  t.is(DATASET_MD5['cifar-10-binary.tar.gz'], 'c32a1d4ab5d03f1284b67883e8d87530');
  t.is(DATASET_MD5['cifar-10-python.tar.gz'], 'c58f30108f718f92721af3b95e74349a');
  t.is(DATASET_MD5['cifar-100-binary.tar.gz'], '03b5dce01913d631647c71ecec9e9cb8');
  t.is(DATASET_MD5['train_32x32.mat'], 'e26dedcc434d2e4c54c9b2d4a06d8373');
  t.is(DATASET_MD5['test_32x32.mat'], 'eb5a983be6a315427106f1b3e3c6ce2b');
  t.is(DATASET_MD5['extra_32x32.mat'], 'a93ce644f1a588dc4d68dda5feec44a7');
  t.is(DATASET_SOURCES.cifar10.files[0]!.url, 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
  t.is(DATASET_SOURCES.svhn.files[0]!.url, 'http://ufldl.stanford.edu/housenumbers/train_32x32.mat');
});

test.serial('good MD5: CIFAR-10 archive is fetched, verified, extracted and readable; a second call does nothing', async (t) => {
  const root = path.join(await tmp(), 'data');
  const progress: number[] = [];
  requests.length = 0;
  const r = await downloadDataset('cifar10', root, { baseUrl, md5: goodMd5, onProgress: (p) => progress.push(p.received) });
  t.false(r.alreadyPresent);
  t.is(r.dir, path.join(root, 'cifar-10-batches-bin'));
  t.deepEqual(r.downloaded, [path.join(root, 'cifar-10-binary.tar.gz')]);
  t.deepEqual(requests, ['/mirror/cifar-10-binary.tar.gz']);
  t.is(progress[progress.length - 1], cifarArchive.length);
  t.deepEqual(await listAll(root), [
    'cifar-10-batches-bin/batches.meta.txt',
    'cifar-10-batches-bin/data_batch_1.bin',
    'cifar-10-batches-bin/data_batch_2.bin',
    'cifar-10-batches-bin/data_batch_3.bin',
    'cifar-10-batches-bin/data_batch_4.bin',
    'cifar-10-batches-bin/data_batch_5.bin',
    'cifar-10-batches-bin/readme.html',
    'cifar-10-batches-bin/test_batch.bin',
    'cifar-10-binary.tar.gz',
  ]);
  const ds = await loadCifar10(root);
  t.deepEqual([...ds.labels], [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
  const again = await downloadDataset('cifar10', root, { baseUrl, md5: goodMd5 });
  t.true(again.alreadyPresent);
  t.is(requests.length, 1, 'no second request');
  // Extracted files gone but the verified archive still there: re-extract without fetching.
  await rm(path.join(root, 'cifar-10-batches-bin'), { recursive: true });
  const re = await downloadDataset('cifar10', root, { baseUrl, md5: goodMd5 });
  t.deepEqual(re.downloaded, []);
  t.is(requests.length, 1);
  t.is((await loadCifar10(root, { split: 'test' })).length, 1);
});

test.serial('bad MD5: an error, and nothing is left behind', async (t) => {
  const parent = await tmp();
  const root = path.join(parent, 'data');
  const e = await t.throwsAsync(downloadDataset('cifar10', root, { baseUrl, md5: { 'cifar-10-binary.tar.gz': '0'.repeat(32) } }), {
    instanceOf: DataError,
  });
  t.is(e!.code, 'ERR_DATA_CHECKSUM_MISMATCH');
  t.regex(e!.message, new RegExp(`${baseUrl}/cifar-10-binary.tar.gz: MD5 ${md5(cifarArchive)} does not match the expected 0{32}`));
  t.deepEqual(await readdir(parent), [], 'no archive, no temp file, no extracted folder, not even the created root');
  // The real published MD5 (default table) does not match the fake archive either.
  const existing = await tmp();
  await t.throwsAsync(downloadDataset('cifar10', existing, { baseUrl }), { instanceOf: DataError, message: /c32a1d4ab5d03f1284b67883e8d87530/ });
  t.deepEqual(await listAll(existing), []);
});

test.serial('SVHN: both .mat files into <root>/svhn, loadable; HTTP 404 is a DOWNLOAD_FAILED leaving nothing', async (t) => {
  const root = await tmp();
  const r = await downloadDataset('svhn', root, { baseUrl, md5: goodMd5 });
  t.is(r.dir, path.join(root, 'svhn'));
  t.deepEqual(await listAll(root), ['svhn/test_32x32.mat', 'svhn/train_32x32.mat']);
  t.deepEqual([...(await loadSvhn(root)).labels], [1, 0, 4]);
  const root2 = await tmp();
  const e = await t.throwsAsync(downloadDataset('svhn-extra', root2, { baseUrl }), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_DOWNLOAD_FAILED');
  t.regex(e!.message, /extra_32x32\.mat: HTTP 404/);
  t.deepEqual(await readdir(root2), []);
  // Connection refused: also a DataError, not a crash.
  const e2 = await t.throwsAsync(downloadDataset('svhn', await tmp(), { baseUrl: 'http://127.0.0.1:9/none', md5: goodMd5 }), { instanceOf: DataError });
  t.is(e2!.code, 'ERR_DATA_DOWNLOAD_FAILED');
});

test.serial('loadDataset({ download: true }) downloads a missing data set, then reads it', async (t) => {
  const root = await tmp();
  await t.throwsAsync(loadDataset('svhn', { root, split: 'test' }), { instanceOf: DataError, message: /--download/ });
  const ds = await loadDataset('svhn', { root, split: 'test', download: true, downloadOptions: { baseUrl, md5: goodMd5 } });
  t.deepEqual([...ds.labels], [7]);
  const c = await loadDataset('cifar10', { root, download: true, downloadOptions: { baseUrl, md5: goodMd5, keepArchive: false } });
  t.is(c.length, 10);
  await t.throwsAsync(stat(path.join(root, 'cifar-10-binary.tar.gz')), undefined, 'archive removed with keepArchive: false');
});

test.serial('an archive member escaping the data root is refused and nothing is extracted', async (t) => {
  const parent = await tmp();
  const root = path.join(parent, 'root');
  await mkdir(root);
  const e = await t.throwsAsync(downloadDataset('cifar100', root, { baseUrl, md5: goodMd5 }), { instanceOf: DataError });
  t.is(e!.code, 'ERR_DATA_BAD_FORMAT');
  t.regex(e!.message, /escapes the target folder/);
  t.deepEqual(await listAll(parent), ['root/cifar-100-binary.tar.gz'], 'only the verified archive; no escaped file, no partial folder');
});
