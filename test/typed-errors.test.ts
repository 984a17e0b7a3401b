// Errors that used to escape untyped (reliability, round two): each is a DenseNetError with a
// code and names the path or option it is about, and nothing is left behind.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import sharp from 'sharp';

import { DenseNet, InvalidArgumentError, imagesToTensor } from '../ts/index.js';
import { cli } from './helpers/cli.js';
import { TINY, tempDir } from './helpers/util.js';

test('saveCheckpoint with state that is not JSON (a cycle, a BigInt, a function): InvalidArgumentError naming the file, no file written', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const model = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => model.dispose());
  const cyclic: Record<string, unknown> = { epoch: 1 };
  cyclic.self = cyclic;
  const path = join(dir, 'c.safetensors');
  for (const [what, extra] of [['a cycle', cyclic], ['a BigInt', { step: 1n }], ['a function', () => 1]] as const) {
    const e = await t.throwsAsync(model.saveCheckpoint(path, extra), { instanceOf: InvalidArgumentError }, what);
    t.is(e!.code, 'ERR_INVALID_ARG', what);
    t.true(e!.message.includes(path), `${what}: ${e!.message}`);
    t.false(existsSync(path), what);
  }
  await model.saveCheckpoint(path, { epoch: 1 });
  t.deepEqual(await model.loadCheckpoint(path), { epoch: 1 });
});

test('an image size too large to allocate: InvalidArgumentError naming size (the CLI: --size), not a bare RangeError', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const image = join(dir, 'a.png');
  await sharp(Buffer.alloc(8 * 8 * 3, 90), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(image);
  const e = await t.throwsAsync(imagesToTensor([image], { size: 100_000 }), { instanceOf: InvalidArgumentError });
  t.regex(e!.message, /^size 100000x100000 for 1 image of 3 channels needs a tensor of 30000000000 floats \(111\.8 GiB\)/);
  const weights = join(dir, 'tiny.safetensors');
  const config = join(dir, 'tiny.json');
  const model = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => model.dispose());
  await model.save(weights);
  writeFileSync(config, JSON.stringify(TINY));
  const r = await cli(['predict', '--model', weights, '--config', config, '--size', '100000', image]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /--size 100000x100000 .* more than can be allocated/);
  t.notRegex(r.stderr, /RangeError|Invalid typed array length/);
});

test('densenet eval with weights that do not fit the data set: ERR_SHAPE naming the weights file', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const rgb = join(dir, 'rgb.safetensors');
  const deep = join(dir, 'deep.safetensors');
  const a = DenseNet.create(TINY, { seed: 1 });
  const b = DenseNet.create({ growthRate: 4, blockConfig: [1, 1, 1, 1, 1, 1], numInitFeatures: 8, numClasses: 10, inChannels: 1, smallInputs: false }, { seed: 1 });
  t.teardown(() => a.dispose());
  t.teardown(() => b.dispose());
  await a.save(rgb);
  await b.save(deep);
  const channels = await cli(['eval', '--model', rgb, '--dataset', 'mnist']);
  t.is(channels.code, 1);
  t.regex(channels.stderr, /mnist has 1-channel images but the model .*rgb\.safetensors takes 3 channels.*\[ERR_SHAPE\]/);
  const small = await cli(['eval', '--model', deep, '--dataset', 'mnist']);
  t.is(small.code, 1);
  t.regex(small.stderr, /the model .*deep\.safetensors does not fit mnist's images: input 28x28 is too small.*\[ERR_SHAPE\]/);
});

test('finite weights too large for f32 products are refused at load, naming the tensor and suggesting f64; f64 loads them', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { WeightsError } = await import('../ts/index.js');
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const good = join(dir, 'good.safetensors');
  const huge = join(dir, 'huge.safetensors');
  const model = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => model.dispose());
  await model.save(good);
  // Set the first value of features.conv0.weight to 1e20 (finite in f32: max 3.4e38).
  const bytes = readFileSync(good);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  t.is(header['features.conv0.weight']!.dtype, 'F32');
  bytes.writeFloatLE(1e20, 8 + n + header['features.conv0.weight']!.data_offsets[0]);
  writeFileSync(huge, bytes);
  const x = Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i));
  const before = Array.from((await model.predict(x, [1, 3, 8, 8])).logits);
  const e = await t.throwsAsync(model.load(huge), { instanceOf: WeightsError });
  t.regex(e!.message, /tensor 'features\.conv0\.weight' holds 1(\.\d+)?e20 at index 0: products of values that large overflow f32 .* dtype 'f64'/);
  t.true(e!.message.includes(huge));
  t.deepEqual(Array.from((await model.predict(x, [1, 3, 8, 8])).logits), before, 'the model is unchanged');
  const wide = await DenseNet.load(huge, TINY, { dtype: 'f64' });
  t.teardown(() => wide.dispose());
  t.true(Array.from((await wide.predict(x, [1, 3, 8, 8])).logits).every(Number.isFinite));
});
