/**
 * One source of truth: presets, CIFAR depth rules, config and optimizer validation and the LR
 * schedules are the native core's; the TypeScript side calls it and keeps no copies.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import {
  ConfigError,
  DenseNet,
  InvalidArgumentError,
  PRESET_NAMES,
  REFERENCE_RECIPE,
  cifarConfig,
  createConfig,
  learningRateAt,
  loadDataset,
  loadNative,
  resolveRecipe,
} from '../ts/index.js';
import { TINY } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('PRESET_NAMES equals the native presetNames(), and every preset comes from the native presetConfig', (t) => {
  const native = loadNative();
  t.deepEqual([...PRESET_NAMES], native.presetNames());
  for (const name of native.presetNames()) {
    t.deepEqual(createConfig(name as (typeof PRESET_NAMES)[number]), JSON.parse(native.presetConfig(name)), name);
  }
});

test('cifarConfig is the native cifarConfig (depth rule included), with overrides applied on top', (t) => {
  const native = loadNative();
  for (const [depth, k, bc] of [[40, 12, false], [100, 12, true], [190, 40, true], [250, 24, true], [13, 8, false], [10, 4, true]] as const) {
    t.deepEqual(cifarConfig({ depth, growthRate: k, bc }), JSON.parse(native.cifarConfig(depth, k, bc, 10)));
  }
  t.deepEqual(cifarConfig({ depth: 40, dropRate: 0.2, numClasses: 100 }), { ...JSON.parse(native.cifarConfig(40, 12, false, 100)), dropRate: 0.2 });
  // The rule's message is the core's: the same text for the same depth.
  const nativeMessage = t.throws(() => native.cifarConfig(101, 12, true, 10))!.message;
  t.is(t.throws(() => cifarConfig({ depth: 101, bc: true }), { instanceOf: ConfigError })!.message, nativeMessage);
});

test('setOptimizer: the native core validates and fills defaults (normalizeOptimizer)', (t) => {
  const native = loadNative();
  const model = DenseNet.create(TINY);
  model.setOptimizer({});
  t.deepEqual(model.optimizer, JSON.parse(native.normalizeOptimizer('{}')));
  model.setOptimizer({ lr: 0.05, momentum: 0.5 });
  t.deepEqual(model.optimizer, JSON.parse(native.normalizeOptimizer(JSON.stringify({ lr: 0.05, momentum: 0.5 }))));
  for (const [bad, field] of [
    [{ lr: -1 }, 'lr'],
    [{ momentum: 1 }, 'momentum'],
    [{ weightDecay: -0.1 }, 'weightDecay'],
    [{ momentum: 0, nesterov: true }, 'nesterov'],
  ] as const) {
    const err = t.throws(() => model.setOptimizer(bad), { instanceOf: InvalidArgumentError });
    t.regex(err!.message, new RegExp(field));
    t.is((err!.cause as { code?: string }).code, 'ERR_INVALID_ARG', `${field}: rejected by the native core`);
  }
  // Wrong JavaScript types are named in TypeScript (the native JSON parser would only give a column).
  t.throws(() => model.setOptimizer({ lr: '0.1' as unknown as number }), { instanceOf: InvalidArgumentError, message: /lr must be a finite number/ });
  t.throws(() => model.setOptimizer({ nesterov: 1 as unknown as boolean }), { instanceOf: InvalidArgumentError, message: /nesterov/ });
  t.throws(() => model.setOptimizer({ lrate: 1 } as never), { instanceOf: InvalidArgumentError, message: /unknown optimizer option "lrate"/ });
});

test('milestones or gamma with the cosine schedule are refused: it would ignore them', async (t) => {
  const mnist = await loadDataset('mnist');
  for (const extra of [{ milestones: [5] }, { gamma: 0.5 }]) {
    t.throws(() => resolveRecipe({ schedule: 'cosine', ...extra, normalization: null }, mnist, false), {
      instanceOf: InvalidArgumentError,
      message: /multistep schedule only; the cosine schedule would ignore it/,
    });
  }
});

test('milestones at or past the last epoch are refused: the multistep schedule would never apply them', async (t) => {
  const mnist = await loadDataset('mnist');
  const err = t.throws(() => resolveRecipe({ epochs: 4, schedule: 'multistep', milestones: [2, 4, 9], normalization: null }, mnist, false), {
    instanceOf: InvalidArgumentError,
  });
  t.regex(err!.message, /milestones 4, 9 are at or past the end of training \(4 epochs/);
  t.deepEqual(resolveRecipe({ epochs: 4, schedule: 'multistep', milestones: [2, 3], normalization: null }, mnist, false).milestones, [2, 3]);
});

test('resolveRecipe takes the optimizer defaults from normalizeOptimizer and the milestones from referenceSchedule', async (t) => {
  const native = loadNative();
  const mnist = await loadDataset('mnist');
  const r = resolveRecipe({ epochs: 40, normalization: null }, mnist, false);
  const opt = JSON.parse(native.normalizeOptimizer('{}'));
  t.deepEqual({ lr: r.lr, momentum: r.momentum, nesterov: r.nesterov, weightDecay: r.weightDecay }, opt);
  const ref = JSON.parse(native.referenceSchedule(opt.lr, 40));
  t.deepEqual(r.milestones, ref.milestones);
  t.is(r.gamma, ref.gamma);
  t.deepEqual(r.milestones, [20, 30]);
  // A different lr: the reference schedule of that lr.
  t.deepEqual(resolveRecipe({ epochs: 10, lr: 0.5, normalization: null }, mnist, false).milestones, JSON.parse(native.referenceSchedule(0.5, 10)).milestones);
  // momentum 0 without nesterov: plain SGD rather than an error.
  t.false(resolveRecipe({ momentum: 0, normalization: null }, mnist, false).nesterov);
  // Schedule values are validated by the core, naming the field.
  for (const [bad, field] of [
    [{ gamma: 0 }, 'gamma'],
    [{ milestones: [-5] }, 'milestones'],
    [{ milestones: [30, 20] }, 'milestones must be strictly increasing'],
    [{ lr: -1 }, 'lr'],
    [{ weightDecay: -1 }, 'weightDecay'],
  ] as const) {
    const err = t.throws(() => resolveRecipe({ ...bad, normalization: null }, mnist, false), { instanceOf: InvalidArgumentError });
    t.regex(err!.message, new RegExp(field));
    t.is((err!.cause as { code?: string }).code, 'ERR_INVALID_ARG');
  }
  t.throws(() => resolveRecipe({ milestones: ['a'] as unknown as number[], normalization: null }, mnist, false), { instanceOf: InvalidArgumentError, message: /milestones/ });
  t.is(REFERENCE_RECIPE.epochs, 300);
  t.false('lr' in REFERENCE_RECIPE, 'the optimizer defaults are not copied into TypeScript');
});

test('learningRateAt is the native scheduleLr, for both schedules', async (t) => {
  const native = loadNative();
  const mnist = await loadDataset('mnist');
  const multi = resolveRecipe({ epochs: 300, normalization: null }, mnist, false);
  const cos = resolveRecipe({ epochs: 20, schedule: 'cosine', lr: 0.2, normalization: null }, mnist, false);
  for (const e of [0, 1, 149, 150, 151, 224, 225, 299]) {
    t.is(learningRateAt(multi, e), native.scheduleLr(JSON.stringify({ type: 'multiStep', lr: multi.lr, milestones: multi.milestones, gamma: multi.gamma }), e));
  }
  for (const e of [0, 0.5, 3.25, 10, 19.9]) {
    t.is(learningRateAt(cos, e), native.scheduleLr(JSON.stringify({ type: 'cosine', lr: 0.2, epochs: 20 }), e));
  }
  t.throws(() => learningRateAt(multi, Number.NaN), { instanceOf: InvalidArgumentError });
});

/** Every .ts file under a directory. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('ts/ holds no copy of the core\'s rules: no depth formula, schedule math, optimizer ranges or preset table', (t) => {
  for (const file of sources(join(root, 'ts'))) {
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    const rel = file.slice(root.length + 1);
    t.false(/Math\.cos\(/.test(code), `${rel}: cosine schedule math`);
    t.false(/\(depth - 4\)/.test(code), `${rel}: CIFAR depth rule`);
    t.false(/momentum\s*(<|>=)\s*[01]\b|momentum < 1/.test(code), `${rel}: momentum range check`);
    t.false(/0\.5,\s*0\.75/.test(code), `${rel}: reference milestones`);
    t.false(/blockConfig:\s*\[6,\s*12,\s*24,\s*16\]/.test(code), `${rel}: densenet121 preset`);
  }
});

test('importing the SDK does not load the native addon or sharp; both load on first use', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const script = `
    const loaded = [];
    const dlopen = process.dlopen;
    process.dlopen = function (m, file, ...rest) { loaded.push(file); return dlopen.call(this, m, file, ...rest); };
    const sdk = await import(${JSON.stringify(join(root, 'ts/index.ts'))});
    const atImport = loaded.length;
    const model = sdk.DenseNet.create({ growthRate: 4, blockConfig: [1], numInitFeatures: 8, numClasses: 2, smallInputs: true });
    const afterCreate = loaded.filter((f) => /densenet/.test(f)).length;
    const sharpBefore = loaded.filter((f) => /sharp/.test(f)).length;
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
    await model.predictImages(png, { size: 4 });
    const sharpAfter = loaded.filter((f) => /sharp/.test(f)).length;
    console.log(JSON.stringify({ atImport, afterCreate, sharpBefore, sharpAfter }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.is(out.atImport, 0, 'no native module at import');
  t.is(out.afterCreate, 1, 'the addon loads with the first model');
  t.is(out.sharpBefore, 0, 'sharp is not loaded until an image is decoded');
  t.true(out.sharpAfter >= 1, 'sharp loads for predictImages');
});
