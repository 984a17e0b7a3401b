import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import sharp from 'sharp';

import { DenseNet } from '../ts/index.js';
import { cli } from './helpers/cli.js';
import { TINY, tempDir } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const STACK = /^\s+at /m;

test('package.json bin points at dist/cli/main.js and the entry has a node shebang', (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  t.is(pkg.bin.densenet, './dist/cli/main.js');
  t.true(readFileSync(join(root, 'ts/cli/main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n'));
});

test('densenet info densenet121 prints the layer table and the total', async (t) => {
  const r = await cli(['info', 'densenet121']);
  t.is(r.code, 0, r.stderr);
  t.log(r.stdout);
  t.regex(r.stdout, /7,978,856/);
  t.regex(r.stdout, /Output size/);
  t.regex(r.stdout, /Parameters/);
  t.regex(r.stdout, /^Total\s+7,978,856$/m);
  for (const text of ['56 × 56', '28 × 28', '14 × 14', '7 × 7', 'Dense Block (1)', 'Transition Layer (3)', 'Classification Layer']) {
    t.true(r.stdout.includes(text), text);
  }
  t.regex(r.stdout, /^Dense Block \(1\)\s+56 × 56\s+256\s+335,040\s+\[1×1 conv, 3×3 conv\] × 6$/m);
  t.regex(r.stdout, /^Dense Block \(4\)\s+7 × 7\s+1024\s+[\d,]+\s+\[1×1 conv, 3×3 conv\] × 16$/m);
});

test('densenet info --json prints preset, config, parameters and stages', async (t) => {
  const r = await cli(['info', 'densenet121', '--json']);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    preset: string;
    config: { growthRate: number; blockConfig: number[] };
    parameters: number;
    inputSize: number[];
    stages: { name: string; outputShape: number[]; params: number }[];
  };
  t.is(j.preset, 'densenet121');
  t.is(j.parameters, 7_978_856);
  t.is(j.config.growthRate, 32);
  t.deepEqual(j.config.blockConfig, [6, 12, 24, 16]);
  t.deepEqual(j.inputSize, [224, 224]);
  t.true(j.stages.length >= 9);
  t.is(j.stages.reduce((a, s) => a + s.params, 0), j.parameters);
  for (const s of j.stages) {
    t.is(typeof s.name, 'string');
    t.is(s.outputShape.length, 3);
  }
});

test('densenet info --input-size and CIFAR presets', async (t) => {
  const r = await cli(['info', 'densenet-bc-100', '--json', '--input-size', '32']);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { parameters: number; inputSize: number[]; stages: { outputShape: number[] }[] };
  t.is(j.parameters, 769_162);
  t.deepEqual(j.inputSize, [32, 32]);
  t.true(j.stages.some((s) => s.outputShape.join('x') === '342x8x8'));
  const big = await cli(['info', 'densenet121', '--json', '--input-size', '320x256']);
  t.is(big.code, 0, big.stderr);
  t.deepEqual((JSON.parse(big.stdout) as { inputSize: number[] }).inputSize, [320, 256]);
  const bad = await cli(['info', 'densenet121', '--input-size', 'huge']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /input-size/);
});

test('densenet info reads a config JSON file (with or without a preset)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const withPreset = join(dir, 'c100.json');
  writeFileSync(withPreset, JSON.stringify({ preset: 'densenet-bc-100', numClasses: 100 }));
  const r = await cli(['info', withPreset, '--json']);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { preset: string; parameters: number; config: { numClasses: number } };
  t.is(j.preset, 'densenet-bc-100');
  t.is(j.config.numClasses, 100);
  t.is(j.parameters, 800_032);
  t.is(j.parameters, DenseNet.create({ preset: 'densenet-bc-100', numClasses: 100 }).parameterCount);

  const plain = join(dir, 'tiny.json');
  writeFileSync(plain, JSON.stringify(TINY));
  const p = await cli(['info', plain, '--json']);
  t.is(p.code, 0, p.stderr);
  t.is((JSON.parse(p.stdout) as { preset: unknown }).preset, null);
  const text = await cli(['info', plain]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /Total/);
});

test('densenet info: bad inputs exit 1 with a one-line message and no stack trace', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const unknown = await cli(['info', 'densenet999']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /unknown preset/);
  t.regex(unknown.stderr, /densenet121/);
  t.notRegex(unknown.stderr, STACK);
  t.is(unknown.stdout, '');

  const missing = await cli(['info', join(dir, 'nope.json')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /not found/);
  t.notRegex(missing.stderr, STACK);

  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{"growthRate": ');
  const b = await cli(['info', badJson]);
  t.is(b.code, 1);
  t.regex(b.stderr, /not valid JSON/);

  const k0 = join(dir, 'k0.json');
  writeFileSync(k0, JSON.stringify({ ...TINY, growthRate: 0 }));
  const k = await cli(['info', k0]);
  t.is(k.code, 1);
  t.regex(k.stderr, /growthRate/);
  t.notRegex(k.stderr, STACK);

  const debug = await cli(['info', 'densenet999'], { DENSENET_DEBUG: '1' });
  t.is(debug.code, 1);
  t.regex(debug.stderr, STACK);
});

test('densenet predict prints the top-5 classes of each image (PNG made with sharp)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const weights = join(dir, 'tiny.safetensors');
  const config = join(dir, 'tiny.json');
  const labels = join(dir, 'labels.txt');
  const a = join(dir, 'a.png');
  const b = join(dir, 'b.png');
  const model = DenseNet.create(TINY, { seed: 12 });
  await model.save(weights);
  writeFileSync(config, JSON.stringify(TINY));
  const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  writeFileSync(labels, names.join('\n') + '\n');
  const px = (seed: number): Buffer => Buffer.from(Array.from({ length: 24 * 20 * 3 }, (_, i) => (i * seed) % 256));
  await sharp(px(31), { raw: { width: 24, height: 20, channels: 3 } }).png().toFile(a);
  await sharp(px(97), { raw: { width: 24, height: 20, channels: 3 } }).png().toFile(b);

  const r = await cli(['predict', '--model', weights, '--config', config, '--size', '16', '--labels', labels, a, b]);
  t.is(r.code, 0, r.stderr);
  t.log(r.stdout);
  const lines = r.stdout.trimEnd().split('\n');
  t.is(lines.length, 12);
  t.is(lines[0], a);
  t.is(lines[6], b);
  for (const line of [...lines.slice(1, 6), ...lines.slice(7, 12)]) {
    t.regex(line, /^\s+[1-5]\.\s+\d+\.\d\d%\s+class \d\s+\w+$/);
  }

  const j = await cli(['predict', '--model', weights, '--config', config, '--size', '16', '--json', a, b]);
  t.is(j.code, 0, j.stderr);
  const out = JSON.parse(j.stdout) as { image: string; top: { index: number; probability: number }[] }[];
  const sdk = (await model.predictImages([a, b], { size: 16 })).topK(5);
  t.deepEqual(
    out.map((o) => o.top.map((e) => e.index)),
    sdk.map((row) => row.map((e) => e.index)),
  );
  t.deepEqual(out.map((o) => o.image), [a, b]);

  // Weights saved by the SDK carry their architecture: --config may be left out.
  const own = await cli(['predict', '--model', weights, '--size', '16', '--json', a, b]);
  t.is(own.code, 0, own.stderr);
  t.deepEqual(JSON.parse(own.stdout), out);
});

test('densenet predict without --config on a file that carries no architecture says so', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const img = join(dir, 'x.png');
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(img);
  const tv = join(root, 'crates/densenet-cpu/tests/fixtures/torchvision_small.safetensors');
  const r = await cli(['predict', '--model', tv, img]);
  t.is(r.code, 1);
  t.regex(r.stderr, /carries no architecture.*--config/);
});

test('densenet predict: bad inputs exit 1 with a clear message and no stack trace', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const weights = join(dir, 'tiny.safetensors');
  const config = join(dir, 'tiny.json');
  await DenseNet.create(TINY).save(weights);
  writeFileSync(config, JSON.stringify(TINY));
  const img = join(dir, 'x.png');
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toFile(img);

  const noImage = await cli(['predict', '--model', weights, '--config', config, join(dir, 'missing.png')]);
  t.is(noImage.code, 1);
  t.regex(noImage.stderr, /missing\.png/);
  t.notRegex(noImage.stderr, STACK);

  const notImage = join(dir, 'fake.png');
  writeFileSync(notImage, 'hello');
  const fake = await cli(['predict', '--model', weights, '--config', config, notImage]);
  t.is(fake.code, 1);
  t.regex(fake.stderr, /fake\.png/);
  t.notRegex(fake.stderr, STACK);

  const noModel = await cli(['predict', '--model', join(dir, 'none.safetensors'), '--config', config, img]);
  t.is(noModel.code, 1);
  t.regex(noModel.stderr, /none\.safetensors/);

  const wrongArch = await cli(['predict', '--model', weights, '--config', 'densenet-bc-100', img]);
  t.is(wrongArch.code, 1);
  t.regex(wrongArch.stderr, /ERR_WEIGHTS/);
  t.notRegex(wrongArch.stderr, STACK);

  const badLabels = join(dir, 'labels.txt');
  writeFileSync(badLabels, 'a\nb\n');
  const lab = await cli(['predict', '--model', weights, '--config', config, '--labels', badLabels, img]);
  t.is(lab.code, 1);
  t.regex(lab.stderr, /2 names.*10 classes/);

  // No --model and no training run recorded in the working directory.
  const noModelFlag = await cli(['predict', '--config', config, img], {}, { cwd: dir });
  t.is(noModelFlag.code, 1);
  t.regex(noModelFlag.stderr, /no --model given.*pass --model FILE/);
});

test('densenet --version and unknown commands', async (t) => {
  const v = await cli(['--version']);
  t.is(v.code, 0);
  t.is(v.stdout.trim(), (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version);
  const u = await cli(['frobnicate']);
  t.is(u.code, 1);
  t.regex(u.stderr, /unknown command/);
});

test('densenet info --batch 64 --train prints the memory estimate of predict and of a training step in both modes', async (t) => {
  const r = await cli(['info', 'densenet-bc-100', '--batch', '64', '--train']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Memory \(batch 64, estimated from the plan\)/);
  for (const line of ['parameters and BN statistics', 'predict, peak', 'training step, efficient, peak', 'training step, naive, peak']) t.true(r.stdout.includes(line), line);
  const j = await cli(['info', 'densenet-bc-100', '--batch', '64', '--json']);
  const out = JSON.parse(j.stdout) as { batch: number; memory: Record<string, number> };
  t.is(out.batch, 64);
  t.true(out.memory['trainingNaive']! > out.memory['trainingEfficient']! && out.memory['trainingEfficient']! > out.memory['inference']!);
  const bad = await cli(['info', 'densenet-bc-100', '--batch', '0']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /--batch/);
});

test('a CLI usage error is one line plus the --help hint, the same for every command, before any work', async (t) => {
  for (const args of [
    ['info', 'densenet-bc-100', '--batch', 'x'],
    ['train', '--epochs', 'zero'],
    ['predict', '--top', '-1', 'x.png'],
    ['info'],
    ['nosuchcommand'],
  ]) {
    const r = await cli(args);
    t.not(r.code, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    t.true(lines.length <= 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(lines[0]!, /^error: /, args.join(' '));
    const command = args[0] === 'nosuchcommand' ? 'densenet' : `densenet ${args[0]}`;
    t.is(lines.at(-1), `(${command} --help lists the ${command === 'densenet' ? 'commands' : 'options'})`, args.join(' '));
    t.false(r.stderr.includes('Usage:'), args.join(' '));
  }
});

test('densenet train checks its options before it touches a folder, and those that need no data before reading any', async (t) => {
  const { dir, cleanup } = tempDir('densenet-optcheck-');
  t.teardown(cleanup);
  for (const [args, message] of [
    [['--momentum', '2'], /momentum must be in \[0, 1\)/],
    [['--lr', '1e400'], /lr/],
    [['--threads', '100000'], /threads must be in 1\.\.=1024/],
    [['--validation-size', '100000', '--limit', '64'], /validationSize \(100000\) must be smaller than the training set \(64 images\)/],
    [['--schedule', 'multistep', '--milestones', '2,9', '--epochs', '4', '--limit', '64'], /milestones 9 is at or past the end of training/],
  ] as const) {
    const r = await cli(['train', ...args], {}, { cwd: dir });
    t.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
    t.deepEqual(readdirSync(dir), [], `${args.join(' ')} created ${readdirSync(dir).join(', ')}`);
  }
});
