import test from 'ava';

import {
  ConfigError,
  DenseNet,
  DenseNetError,
  PRESET_NAMES,
  cifarConfig,
  createConfig,
  loadNative,
  type ModelConfig,
  type PresetName,
} from '../ts/index.js';
import { toDenseNetError } from '../ts/errors.js';

/** design.md's table: parameters of each preset (10 classes for CIFAR, 1000 for ImageNet). */
const EXPECTED_PARAMS: Record<PresetName, number> = {
  'densenet-40': 1_019_722,
  'densenet-100': 6_979_642,
  'densenet-100-k24': 27_249_082,
  'densenet-bc-100': 769_162,
  'densenet-bc-250': 15_324_406,
  'densenet-bc-190': 25_624_430,
  densenet121: 7_978_856,
  densenet161: 28_681_000,
  densenet169: 14_149_480,
  densenet201: 20_013_928,
  densenet264: 33_337_704,
};

/** design.md's table: k, blocks, stem. */
const EXPECTED_ARCH: Record<PresetName, [number, number[], number, boolean]> = {
  'densenet-40': [12, [12, 12, 12], 16, false],
  'densenet-100': [12, [32, 32, 32], 16, false],
  'densenet-100-k24': [24, [32, 32, 32], 16, false],
  'densenet-bc-100': [12, [16, 16, 16], 24, true],
  'densenet-bc-250': [24, [41, 41, 41], 48, true],
  'densenet-bc-190': [40, [31, 31, 31], 80, true],
  densenet121: [32, [6, 12, 24, 16], 64, true],
  densenet161: [48, [6, 12, 36, 24], 96, true],
  densenet169: [32, [6, 12, 32, 32], 64, true],
  densenet201: [32, [6, 12, 48, 32], 64, true],
  densenet264: [32, [6, 12, 64, 48], 64, true],
};

test('PRESET_NAMES (the TypeScript literal type) equals the native core\'s presetNames(), in order', (t) => {
  t.deepEqual(loadNative().presetNames(), [...PRESET_NAMES]);
});

for (const name of PRESET_NAMES) {
  test(`preset ${name}: architecture as in design.md`, (t) => {
    const c = createConfig(name);
    const [k, blocks, stem, bc] = EXPECTED_ARCH[name];
    t.is(c.growthRate, k);
    t.deepEqual(c.blockConfig, blocks);
    t.is(c.numInitFeatures, stem);
    t.is(c.bottleneck, bc);
    t.is(c.compression, bc ? 0.5 : 1);
    t.is(c.smallInputs, !name.startsWith('densenet1') && !name.startsWith('densenet2'));
    t.is(c.numClasses, c.smallInputs ? 10 : 1000);
  });

  test(`preset ${name}: native parameter count is ${EXPECTED_PARAMS[name].toLocaleString('en')}`, (t) => {
    const model = DenseNet.create(name);
    t.is(model.parameterCount, EXPECTED_PARAMS[name]);
  });
}

test('createConfig fills defaults for a partial config and returns every field', (t) => {
  const c = createConfig({ growthRate: 12, blockConfig: [16, 16, 16], numInitFeatures: 24 });
  for (const key of [
    'growthRate',
    'blockConfig',
    'numInitFeatures',
    'bottleneck',
    'bnSize',
    'compression',
    'dropRate',
    'numClasses',
    'inChannels',
    'smallInputs',
  ] satisfies (keyof ModelConfig)[]) {
    t.not(c[key], undefined, key);
  }
  t.is(c.growthRate, 12);
  t.deepEqual(c.blockConfig, [16, 16, 16]);
});

test('createConfig applies overrides to a preset (string form and preset field)', (t) => {
  const a = createConfig('densenet121', { numClasses: 10 });
  const b = createConfig({ preset: 'densenet121', numClasses: 10 });
  t.is(a.numClasses, 10);
  t.is(a.growthRate, 32);
  t.deepEqual(a, b);
});

test('cifarConfig matches the CIFAR presets', (t) => {
  const cases: [PresetName, Parameters<typeof cifarConfig>[0]][] = [
    ['densenet-40', { depth: 40, growthRate: 12 }],
    ['densenet-100', { depth: 100, growthRate: 12 }],
    ['densenet-100-k24', { depth: 100, growthRate: 24 }],
    ['densenet-bc-100', { depth: 100, growthRate: 12, bc: true }],
    ['densenet-bc-250', { depth: 250, growthRate: 24, bc: true }],
    ['densenet-bc-190', { depth: 190, growthRate: 40, bc: true }],
  ];
  for (const [preset, opts] of cases) {
    const p = createConfig(preset);
    t.deepEqual(cifarConfig({ ...opts, dropRate: p.dropRate }), p, preset);
  }
});

test('cifarConfig rejects a depth that is not 3n+4 (basic) or 6n+4 (BC), naming depth', (t) => {
  // The depth rule is the native core's (cifarConfig), not a TypeScript copy.
  for (const depth of [41, 42, 4, 1, 0]) {
    const err = t.throws(() => cifarConfig({ depth, growthRate: 12 }), { instanceOf: ConfigError });
    t.regex(err!.message, /depth/);
    t.regex(err!.message, /3n ?\+ ?4/);
    t.is(err!.code, 'ERR_INVALID_CONFIG');
    t.is((err!.cause as { code?: string }).code, 'ERR_INVALID_CONFIG', 'the native error is the cause');
  }
  for (const depth of [41, 101, 103, 4]) {
    const err = t.throws(() => cifarConfig({ depth, growthRate: 12, bc: true }), { instanceOf: ConfigError });
    t.regex(err!.message, /depth/);
    t.regex(err!.message, /6n ?\+ ?4/);
  }
  t.throws(() => cifarConfig({ depth: -2 }), { instanceOf: ConfigError, message: /depth must be an integer/ });
  t.throws(() => cifarConfig({ depth: 40.5 }), { instanceOf: ConfigError, message: /depth/ });
  t.throws(() => cifarConfig({ depth: '40' as unknown as number }), { instanceOf: ConfigError, message: /depth/ });
});

test('invalid growth rate (k <= 0) is rejected by the native core, naming growthRate', (t) => {
  for (const growthRate of [0, -1, -12]) {
    const err = t.throws(() => createConfig({ preset: 'densenet-bc-100', growthRate }), { instanceOf: ConfigError });
    t.regex(err!.message, /growthRate/);
  }
  t.throws(() => DenseNet.create({ preset: 'densenet-40', growthRate: 0 }), { instanceOf: ConfigError, message: /growthRate/ });
});

test('compression outside (0, 1] is rejected, naming compression; 1 and 0.5 are accepted', (t) => {
  for (const compression of [0, -0.5, 1.01, 2]) {
    const err = t.throws(() => createConfig({ preset: 'densenet-bc-100', compression }), { instanceOf: ConfigError });
    t.regex(err!.message, /compression/);
  }
  t.is(createConfig({ preset: 'densenet-bc-100', compression: 1 }).compression, 1);
  t.is(createConfig({ preset: 'densenet-bc-100', compression: 0.5 }).compression, 0.5);
});

test('other invalid values are rejected by the native core, naming the field', (t) => {
  const bad: [Partial<ModelConfig>, RegExp][] = [
    [{ blockConfig: [] }, /blockConfig/],
    [{ blockConfig: [16, 0, 16] }, /blockConfig/],
    [{ numClasses: 0 }, /numClasses/],
    [{ inChannels: 0 }, /inChannels/],
    [{ dropRate: 1 }, /dropRate/],
    [{ dropRate: -0.1 }, /dropRate/],
    [{ bnSize: 0 }, /bnSize/],
    [{ numInitFeatures: 0 }, /numInitFeatures/],
  ];
  for (const [override, field] of bad) {
    t.throws(() => createConfig('densenet-bc-100', override), { instanceOf: ConfigError, message: field }, JSON.stringify(override));
  }
});

test('field types are checked in TypeScript, naming the field', (t) => {
  t.throws(() => createConfig({ growthRate: '12' as unknown as number }), { instanceOf: ConfigError, message: /growthRate/ });
  t.throws(() => createConfig({ growthRate: 1.5 }), { instanceOf: ConfigError, message: /growthRate/ });
  t.throws(() => createConfig({ blockConfig: '6,12' as unknown as number[] }), { instanceOf: ConfigError, message: /blockConfig/ });
  t.throws(() => createConfig({ bottleneck: 1 as unknown as boolean }), { instanceOf: ConfigError, message: /bottleneck/ });
  t.throws(() => createConfig({ growthrate: 12 } as unknown as ModelConfig), { instanceOf: ConfigError, message: /growthrate/ });
  t.throws(() => createConfig(null as unknown as ModelConfig), { instanceOf: ConfigError });
});

test('an unknown preset is a ConfigError listing the known presets', (t) => {
  const err = t.throws(() => createConfig('densenet999' as PresetName), { instanceOf: ConfigError });
  for (const name of PRESET_NAMES) t.true(err!.message.includes(name), name);
  t.throws(() => DenseNet.create('resnet50' as PresetName), { instanceOf: ConfigError, message: /densenet121/ });
});

test('the native presetConfig itself rejects unknown names with code ERR_INVALID_CONFIG, listing the known ones', (t) => {
  const native = loadNative();
  const raw = t.throws(() => native.presetConfig('densenet999'));
  t.is((raw as Error & { code?: string }).code, 'ERR_INVALID_CONFIG');
  t.false(raw!.message.startsWith('['));
  t.regex(raw!.message, /densenet121/);
  t.regex(raw!.message, /densenet-bc-100/);
  const mapped = toDenseNetError(raw);
  t.true(mapped instanceof ConfigError);
  t.true(mapped instanceof DenseNetError);
  t.is(mapped.message, raw!.message);
  t.is(mapped.cause, raw);
});

test('the native normalizeConfig rejects k = 0 with code ERR_INVALID_CONFIG, naming growthRate', (t) => {
  const native = loadNative();
  const raw = t.throws(() => native.normalizeConfig(JSON.stringify({ ...createConfig('densenet-40'), growthRate: 0 })));
  t.is((raw as Error & { code?: string }).code, 'ERR_INVALID_CONFIG');
  t.regex(raw!.message, /^growthRate/);
});
