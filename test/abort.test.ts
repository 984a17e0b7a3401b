/**
 * Every long async call takes an AbortSignal and rejects with the SDK's one AbortError, leaving
 * the model usable: predict, predictImages, trainStep, evalStep, load, DenseNet.load, evaluate,
 * downloads (and train, which rejects with TrainAbortError after writing its checkpoint: see
 * train-abort.test.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';
import sharp from 'sharp';

import {
  AbortError,
  DenseNet,
  DenseNetError,
  InvalidArgumentError,
  SubsetDataset,
  downloadDataset,
  evaluate,
  imagesToTensor,
  loadDataset,
} from '../ts/index.js';
import { splitIndices } from '../ts/data/split.js';
import { TINY, labelsFor, randn, tempDir } from './helpers/util.js';

const SHAPE = [2, 3, 16, 16] as const;
const aborted = (reason?: unknown): AbortSignal => {
  const ac = new AbortController();
  ac.abort(reason);
  return ac.signal;
};
const isAbort = { instanceOf: AbortError, code: 'ABORT_ERR' } as const;

test('an already-aborted signal rejects every call with AbortError; nothing runs; the model stays usable', async (t) => {
  const model = DenseNet.create(TINY, { seed: 1 });
  model.setOptimizer({ lr: 0.1 });
  const x = randn(2 * 3 * 16 * 16);
  const y = labelsFor(2, 10);
  const signal = aborted(new Error('stop'));
  const e = await t.throwsAsync(model.predict(x, SHAPE, { signal }), isAbort);
  t.true(e instanceof DenseNetError);
  t.is(e!.name, 'AbortError');
  t.is((e!.cause as Error).message, 'stop');
  await t.throwsAsync(model.trainStep(x, SHAPE, y, { signal }), isAbort);
  await t.throwsAsync(model.evalStep(x, SHAPE, y, { signal }), isAbort);
  await t.throwsAsync(model.save('/tmp/unused.safetensors', { signal }), isAbort);
  await t.throwsAsync(model.saveCheckpoint('/tmp/unused.safetensors', null, { signal }), isAbort);
  t.is(model.step, 0, 'the aborted trainStep did not run');
  const out = await model.predict(x, SHAPE);
  t.is(out.shape[0], 2);
  // A signal that is not an AbortSignal is a typed error.
  await t.throwsAsync(model.predict(x, SHAPE, { signal: {} as AbortSignal }), { instanceOf: InvalidArgumentError, message: /AbortSignal/ });
});

test('a call aborted while it waits behind another never starts; the earlier one completes', async (t) => {
  const model = DenseNet.create('densenet-bc-100', { seed: 1 });
  model.setOptimizer({ lr: 0.1 });
  const n = 16;
  const x = randn(n * 3 * 32 * 32, 5);
  const y = labelsFor(n, 10);
  const order: string[] = [];
  const first = model.trainStep(x, [n, 3, 32, 32], y).then(() => order.push('first done'));
  const ac = new AbortController();
  const second = model.trainStep(x, [n, 3, 32, 32], y, { signal: ac.signal }).catch((err: unknown) => {
    order.push('second rejected');
    throw err;
  });
  ac.abort();
  await t.throwsAsync(second, isAbort);
  await first;
  t.deepEqual(order, ['second rejected', 'first done'], 'the aborted call did not wait for the running one');
  // Only the first step ran.
  t.is(model.step, 1);
  await model.trainStep(x, [n, 3, 32, 32], y);
  t.is(model.step, 2);
  await model.dispose();
});

test('aborting a running native call rejects at once; the model finishes the call and stays usable', async (t) => {
  const model = DenseNet.create('densenet121', { seed: 1 });
  const n = 4;
  const x = randn(n * 3 * 224 * 224, 9);
  const reference = await model.predict(x, [n, 3, 224, 224]);
  const t1 = performance.now();
  const ac = new AbortController();
  const p = model.predict(x, [n, 3, 224, 224], { signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await t.throwsAsync(p, isAbort);
  const waited = performance.now() - t1;
  const again = await model.predict(x, [n, 3, 224, 224]);
  const total = performance.now() - t1;
  t.log(`rejected after ${waited.toFixed(0)} ms; the next predict done after ${total.toFixed(0)} ms`);
  t.true(waited < total, 'the abort did not wait for the native call');
  t.deepEqual(again.logits, reference.logits);
  await model.dispose();
});

test('predictImages and imagesToTensor stop on abort', async (t) => {
  const model = DenseNet.create(TINY);
  const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#336699' } }).png().toBuffer();
  await t.throwsAsync(model.predictImages([png, png], { size: 16, signal: aborted() }), isAbort);
  await t.throwsAsync(imagesToTensor([png], { size: 16, signal: aborted() }), isAbort);
  t.is((await model.predictImages(png, { size: 16 })).shape[0], 1);
});

test('load and DenseNet.load stop on abort; an aborted load leaves the weights as they were', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'w.safetensors');
  await DenseNet.create(TINY, { seed: 7 }).save(path);
  await t.throwsAsync(DenseNet.load(path, null, { signal: aborted() }), isAbort);
  const model = DenseNet.create(TINY, { seed: 1 });
  const x = randn(2 * 3 * 16 * 16);
  const before = await model.predict(x, SHAPE);
  const slow = model.predict(x, SHAPE);
  const ac = new AbortController();
  const loading = model.load(path, { signal: ac.signal });
  ac.abort();
  await t.throwsAsync(loading, isAbort);
  await slow;
  t.deepEqual((await model.predict(x, SHAPE)).logits, before.logits, 'the aborted load did not run');
  await model.load(path);
  t.notDeepEqual((await model.predict(x, SHAPE)).logits, before.logits);
});

test('evaluate rejects with AbortError when its signal fires mid-way; the model stays usable', async (t) => {
  const full = await loadDataset('mnist');
  const ds = new SubsetDataset(full, splitIndices(full.length, 512, 'abort-eval').validation, 'mnist-sub');
  const model = DenseNet.create({ ...TINY, inChannels: 1 });
  const ac = new AbortController();
  let batches = 0;
  const err = await t.throwsAsync(
    evaluate(model, ds, {
      batchSize: 32,
      signal: ac.signal,
      onProgress: () => {
        if (++batches === 3) ac.abort();
      },
    }),
    isAbort,
  );
  t.regex(err!.message, /evaluate/);
  t.is(batches, 3);
  const r = await evaluate(model, ds, { batchSize: 64 });
  t.is(r.images, 512);
});

test('downloads stop on abort with AbortError and leave no partial file', async (t) => {
  // A server that sends the first bytes of a large file, then stalls.
  let server: Server | undefined;
  const sockets = new Set<import('node:net').Socket>();
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-length': String(10_000_000) });
    res.write(Buffer.alloc(64 * 1024, 1));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server!.close();
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const root = await mkdtemp(join(tmpdir(), 'densenet-abort-dl-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));

  const ac = new AbortController();
  const p = downloadDataset('svhn', root, {
    baseUrl,
    signal: ac.signal,
    onProgress: (e) => {
      if (e.received > 0) ac.abort(new Error('user cancelled'));
    },
  });
  const err = await t.throwsAsync(p, isAbort);
  t.is((err!.cause as Error).message, 'user cancelled');
  const left = await readdir(root, { recursive: true });
  t.deepEqual(left.filter((f) => String(f).endsWith('.part')), [], 'no partial download left');
  // Already aborted: nothing is fetched.
  await t.throwsAsync(downloadDataset('svhn', root, { baseUrl, signal: aborted() }), isAbort);
  await t.throwsAsync(loadDataset('svhn', { root: join(root, 'other'), download: true, downloadOptions: { baseUrl }, signal: aborted() }), isAbort);
});
