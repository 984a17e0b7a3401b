// Seeded mutation fuzzing of everything the SDK reads: weights and checkpoints (through the native
// core), CIFAR binary and python batches, SVHN MAT files, tar and gzip archives, and CLI option
// values. Each case must end in a typed error (a DenseNetError with a code) or a correct result,
// never an untyped error; after every failed load the model is unchanged (same logits, same step).
// Seeds are fixed, so a failure names a case that reproduces; the whole file is bounded in time.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import test, { type ExecutionContext } from 'ava';

import { DenseNet, DenseNetError } from '../ts/index.js';
import { parseCifarBinary, decodeCifarPythonBatch } from '../ts/data/cifar.js';
import { boundedGunzip } from '../ts/data/inflate.js';
import { parseSvhnMat, readMat, readTar, unpickle, writeTar } from '../ts/data/index.js';
import { cli } from './helpers/cli.js';
import { TINY, tempDir } from './helpers/util.js';
import { cifarRecords, matFile, matMatrix, MI, py2CifarBatch, svhnX } from './fixtures/data/writers.js';

/** mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One seeded mutation of `src`: flipped bytes, a truncation, an insertion, a zeroed or random run, or a duplicated range. */
function mutate(src: Uint8Array, seed: number): { bytes: Uint8Array; how: string } {
  const r = rng(seed);
  const at = (n: number): number => Math.floor(r() * n);
  const b = Uint8Array.from(src);
  // Mutations near the start hit headers, where the parsers decide the most: favour them.
  const pos = (): number => (r() < 0.6 ? at(Math.min(b.length, 256)) : at(b.length));
  switch (at(6)) {
    case 0: {
      const k = 1 + at(8);
      for (let i = 0; i < k; i++) b[pos()] ^= 1 << at(8);
      return { bytes: b, how: `flip ${k} bits` };
    }
    case 1: {
      const n = at(b.length);
      return { bytes: b.subarray(0, n), how: `truncate to ${n}` };
    }
    case 2: {
      const p = pos();
      const ins = Uint8Array.from({ length: 1 + at(16) }, () => at(256));
      const out = new Uint8Array(b.length + ins.length);
      out.set(b.subarray(0, p));
      out.set(ins, p);
      out.set(b.subarray(p), p + ins.length);
      return { bytes: out, how: `insert ${ins.length} bytes at ${p}` };
    }
    case 3: {
      const p = pos();
      const n = 1 + at(32);
      b.fill(r() < 0.5 ? 0 : 0xff, p, p + n);
      return { bytes: b, how: `fill ${n} bytes at ${p}` };
    }
    case 4: {
      const p = pos();
      for (let i = 0; i < 8 && p + i < b.length; i++) b[p + i] = at(256);
      return { bytes: b, how: `random 8 bytes at ${p}` };
    }
    default: {
      const p = pos();
      const n = 1 + at(64);
      const out = new Uint8Array(b.length + n);
      out.set(b.subarray(0, p + n > b.length ? b.length : p + n));
      out.set(b.subarray(p, Math.min(b.length, p + n)), Math.min(b.length, p + n));
      out.set(b.subarray(Math.min(b.length, p + n)), Math.min(b.length, p + n) + Math.min(n, b.length - p));
      return { bytes: out.subarray(0, b.length + Math.min(n, b.length - p)), how: `duplicate ${n} bytes at ${p}` };
    }
  }
}

/** Runs a parser on a mutated input: it must return or throw a DenseNetError. Returns the tally. */
function fuzzParser(t: ExecutionContext, name: string, base: Uint8Array, seeds: number, parse: (b: Uint8Array) => unknown): { typed: number; accepted: number } {
  let typed = 0;
  let accepted = 0;
  for (let s = 1; s <= seeds; s++) {
    const { bytes, how } = mutate(base, s * 7919 + name.length);
    try {
      parse(bytes);
      accepted++;
    } catch (e) {
      if (e instanceof DenseNetError && typeof e.code === 'string') typed++;
      else t.fail(`${name} seed ${s} (${how}): untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
  }
  return { typed, accepted };
}

test('data formats: seeded mutations of CIFAR binary and python batches, SVHN MAT, tar and gzip end in a DataError or a correct parse', (t) => {
  const cifar = cifarRecords(Array.from({ length: 12 }, (_, i) => i % 10), (i, j) => (i * 31 + j) % 256);
  const pixels = Uint8Array.from({ length: 6 * 3072 }, (_, i) => i % 251);
  const pickle = py2CifarBatch(pixels, [0, 1, 2, 3, 4, 5], 'batch 1');
  const mat = matFile([matMatrix('X', 9, [32, 32, 3, 4], MI.UINT8, svhnX(4), true), matMatrix('y', 6, [4, 1], MI.DOUBLE, new Float64Array([1, 2, 10, 4]), true)], { compress: false, le: true });
  const matZ = matFile([matMatrix('X', 9, [32, 32, 3, 4], MI.UINT8, svhnX(4), true), matMatrix('y', 6, [4, 1], MI.DOUBLE, new Float64Array([1, 2, 10, 4]), true)], { compress: true, le: true });
  const tar = writeTar([{ name: 'a/data_batch_1.bin', data: cifar }, { name: 'a/batches.meta.txt', data: new TextEncoder().encode('x\ny\n') }]);
  const gz = gzipSync(tar);
  // The unmutated inputs parse: the harness itself is sound.
  t.is(parseCifarBinary(cifar, 'c.bin', { recordSize: 3073, labelOffset: 0, numClasses: 10 }).labels.length, 12);
  t.is(parseSvhnMat(mat, 'm.mat').length, 4);
  t.is(readTar(tar).length, 2);
  const cases: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
    ['cifar-binary', cifar, (b) => parseCifarBinary(b, 'c.bin', { recordSize: 3073, labelOffset: 0, numClasses: 10 })],
    ['cifar-python', pickle, (b) => decodeCifarPythonBatch(unpickle(b, 'p.pkl'), 'p.pkl')],
    ['svhn-mat', mat, (b) => parseSvhnMat(b, 'm.mat')],
    ['svhn-mat-compressed', matZ, (b) => readMat(b, 'mz.mat')],
    ['tar', tar, (b) => readTar(b, 't.tar')],
    ['gzip', gz, (b) => readTar(boundedGunzip(b, 't.tar.gz'), 't.tar.gz')],
  ];
  let total = 0;
  for (const [name, base, parse] of cases) {
    const { typed, accepted } = fuzzParser(t, name, base, 60, parse);
    t.log(`${name}: ${typed} typed errors, ${accepted} parses`);
    total += typed + accepted;
  }
  t.is(total, 360);
});

test('weights and checkpoints: seeded mutations load, or fail typed and leave the model unchanged', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const x = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.37));
  const shape = [2, 3, 8, 8] as const;
  const source = DenseNet.create(TINY, { seed: 5 });
  t.teardown(() => source.dispose());
  await source.trainStep(x, shape, Int32Array.from([3, 4]));
  const weights = join(dir, 'w.safetensors');
  const ckpt = join(dir, 'c.safetensors');
  await source.save(weights, { preprocessing: { inputSize: [8, 8], channels: 3, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } });
  await source.saveCheckpoint(ckpt, { epoch: 1 });

  const model = DenseNet.create(TINY, { seed: 6 });
  t.teardown(() => model.dispose());
  const logits = async (): Promise<number[]> => Array.from((await model.predict(x, shape)).logits);
  const counts = { typed: 0, loaded: 0 };
  for (const [kind, file, seeds] of [['weights', weights, 120], ['checkpoint', ckpt, 80]] as const) {
    const base = readFileSync(file);
    for (let s = 1; s <= seeds; s++) {
      const { bytes, how } = mutate(base, s * 104729 + kind.length);
      const path = join(dir, `mut-${kind}.safetensors`);
      writeFileSync(path, bytes);
      const before = await logits();
      const step = model.step;
      try {
        if (kind === 'weights') await model.load(path);
        else await model.loadCheckpoint(path);
        counts.loaded++;
        // A mutation the format tolerates (a flipped mantissa bit, padding): the model must still compute.
        const after = (await model.predict(x, shape).catch((e: unknown) => e)) as unknown;
        if (after instanceof Error && !(after instanceof DenseNetError)) t.fail(`${kind} seed ${s} (${how}): loaded, then predict threw untyped ${after.message}`);
      } catch (e) {
        if (!(e instanceof DenseNetError)) {
          t.fail(`${kind} seed ${s} (${how}): untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          continue;
        }
        counts.typed++;
        t.deepEqual(await logits(), before, `${kind} seed ${s} (${how}): a failed load changed the weights`);
        t.is(model.step, step, `${kind} seed ${s} (${how}): a failed load changed the step`);
      }
      // Start each case from the same model: reload the good weights.
      await model.load(weights);
    }
  }
  t.log(`weights/checkpoints: ${counts.typed} typed errors, ${counts.loaded} loads`);
  t.is(counts.typed + counts.loaded, 200);
  t.true(counts.typed > 100, 'most mutations are caught');
});

test('CLI option values: hostile values end in a one-line typed error (code in brackets), never a stack trace', async (t) => {
  const r = rng(2026);
  const pool = ['-1', '0', 'NaN', 'Infinity', '1e400', '-0', '3.5', 'abc', '', ' ', '99999999999999999999', '0x10', '1,2', '--', '[]', '{}', 'null'];
  const pick = (): string => pool[Math.floor(r() * pool.length)]!;
  const numeric = {
    train: ['--epochs', '--batch-size', '--lr', '--momentum', '--weight-decay', '--validation-size', '--threads', '--seed', '--growth-rate', '--depth'],
    predict: ['--size', '--resize', '--top', '--mean', '--std'],
    eval: ['--batch-size', '--resize', '--limit'],
  } as const;
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  let ran = 0;
  for (let i = 0; i < 24; i++) {
    const command = (['train', 'predict', 'eval'] as const)[i % 3]!;
    const flags = numeric[command];
    // Two options with hostile values per run, the first chosen never to be valid (so no run trains for long).
    const first = flags[Math.floor(r() * flags.length)]!;
    const second = flags[Math.floor(r() * flags.length)]!;
    const args = [command, first, ['-1', 'NaN', 'abc', '1e400', ''][i % 5]!, second, pick()];
    if (command !== 'train') args.push('--model', '/nonexistent/w.safetensors');
    if (command === 'predict') args.push('/nonexistent/a.png');
    if (command !== 'predict') args.push('--dataset', 'mnist', '--out', join(dir, 'runs'));
    const res = await cli(args);
    ran++;
    const where = `densenet ${args.join(' ')}`;
    t.not(res.code, 0, `${where}: a hostile value was accepted`);
    t.notRegex(res.stderr, /^\s+at .+:\d+:\d+\)?$/m, `${where}: printed a stack trace:\n${res.stderr}`);
    t.notRegex(res.stderr, /TypeError|RangeError|ReferenceError|SyntaxError/, `${where}: untyped error:\n${res.stderr}`);
    t.regex(res.stderr, /^(densenet: .+ \[(ERR_[A-Z_]+|ABORT_ERR)\]|error: .+)$/m, `${where}: no typed error line:\n${res.stderr}`);
  }
  t.is(ran, 24);
});
