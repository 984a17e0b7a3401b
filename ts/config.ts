/**
 * Model configuration: the {@link ModelConfig} type, the named presets, and helpers that
 * build validated configs. The native core is the authority on validity; the TypeScript
 * side only checks field types (cheap, and gives better messages for typos).
 *
 * @module
 */
import { ConfigError } from './errors.js';
import { callNative, loadNative } from './native.js';

/**
 * The full description of a DenseNet architecture (JSON field names as the native core uses them).
 * The defaults named below are filled in by the native core (`normalizeConfig`) when a field is missing.
 *
 * Example (DenseNet-BC-100, k = 12, CIFAR-10):
 * `{"growthRate":12,"blockConfig":[16,16,16],"numInitFeatures":24,"bottleneck":true,"bnSize":4,
 *   "compression":0.5,"dropRate":0,"numClasses":10,"inChannels":3,"smallInputs":true}`
 *
 * @category Model
 */
export interface ModelConfig {
  /** Growth rate k: the number of feature maps each dense layer adds. Integer > 0. Required. */
  growthRate: number;
  /** Number of dense layers in each dense block, e.g. `[6, 12, 24, 16]` for DenseNet-121. Non-empty, each > 0. Required. */
  blockConfig: number[];
  /** Output channels of the stem convolution (16 for basic CIFAR nets, 2k for BC and ImageNet nets). Integer > 0. Required. */
  numInitFeatures: number;
  /** Bottleneck layers (the "B" of DenseNet-BC): BN-ReLU-1x1 conv (bnSize·k) before each 3x3 conv. Default `true`. */
  bottleneck: boolean;
  /** Multiplier of the bottleneck width: the 1x1 conv outputs `bnSize * growthRate` channels. Default 4 (the paper's). */
  bnSize: number;
  /** Compression θ of the transition layers, in (0, 1]: a transition outputs ⌊θ·m⌋ of its m channels (the "C" of BC is 0.5). Default 0.5. */
  compression: number;
  /** Dropout rate after each 3x3 conv in training, in [0, 1) (the paper uses 0.2 without data augmentation). Default 0. */
  dropRate: number;
  /** Number of output classes of the linear classifier. Default 1000. */
  numClasses: number;
  /** Number of input image channels (3 for RGB, 1 for grayscale). Default 3. */
  inChannels: number;
  /**
   * Stem for small (CIFAR/SVHN-size) inputs: one 3x3 conv, stride 1. When `false`, the
   * ImageNet stem: 7x7 conv stride 2 → BN → ReLU → 3x3 max pool stride 2. Default `false`.
   */
  smallInputs: boolean;
}

/**
 * Names of the built-in presets (the architectures of the paper's Tables 1 and 2), as a literal
 * list for TypeScript's types. The native core defines the presets and is the authority at run
 * time; the test suite checks that this list equals the core's `presetNames()`.
 *
 * @category Model
 */
export const PRESET_NAMES = [
  'densenet-40',
  'densenet-100',
  'densenet-100-k24',
  'densenet-bc-100',
  'densenet-bc-250',
  'densenet-bc-190',
  'densenet121',
  'densenet161',
  'densenet169',
  'densenet201',
  'densenet264',
] as const;

/**
 * A built-in preset name.
 *
 * @category Model
 */
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * A config as a user may write it: any subset of {@link ModelConfig} (the native side fills
 * defaults), optionally on top of a preset named by `preset`.
 * For example `{ preset: 'densenet121', numClasses: 10 }`.
 *
 * @category Model
 */
export type ModelConfigInput = Partial<ModelConfig> & {
  /** Start from this preset and override the other given fields. */
  preset?: PresetName;
};

/**
 * What {@link createConfig} (and `DenseNet.create`) accept: a preset name or a (partial) config.
 *
 * @category Model
 */
export type ConfigInput = PresetName | ModelConfigInput;

const INT_FIELDS = new Set<string>(['growthRate', 'numInitFeatures', 'bnSize', 'numClasses', 'inChannels']);
const NUM_FIELDS = new Set<string>(['compression', 'dropRate']);
const BOOL_FIELDS = new Set<string>(['bottleneck', 'smallInputs']);

/**
 * Whether `name` is a preset of the native core (loads the addon).
 *
 * @param name - any value
 * @internal
 */
export function isPresetName(name: unknown): name is PresetName {
  if (typeof name !== 'string') return false;
  const native = loadNative();
  return callNative(() => native.presetNames()).includes(name);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${JSON.stringify(v)} (${typeof v})`;
}

/**
 * Checks the JavaScript types of the fields of a (partial) config, so that a wrong type gets a
 * message naming the field (the native JSON parser reports only a column). Counts must be
 * non-negative integers (they are unsigned natively). Everything else — unknown fields, missing
 * fields, value ranges (`growthRate > 0`, `compression` in (0, 1], ...), unknown presets — is
 * validated by the native core, the one authority.
 *
 * @param input - a partial config
 * @throws {@link ConfigError} naming the field
 * @internal
 */
export function checkConfigTypes(input: unknown): asserts input is ModelConfigInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(`config must be an object or a preset name, got ${describe(input)}`);
  }
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (key === 'preset') {
      if (typeof value !== 'string') throw new ConfigError(`preset must be a preset name (string), got ${describe(value)}`);
    } else if (INT_FIELDS.has(key)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
        throw new ConfigError(`${key} must be a non-negative integer, got ${describe(value)}`);
      }
    } else if (NUM_FIELDS.has(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ConfigError(`${key} must be a finite number, got ${describe(value)}`);
      }
    } else if (BOOL_FIELDS.has(key)) {
      if (typeof value !== 'boolean') throw new ConfigError(`${key} must be a boolean, got ${describe(value)}`);
    } else if (key === 'blockConfig') {
      if (!Array.isArray(value) || value.some((n) => typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)) {
        throw new ConfigError(`blockConfig must be an array of non-negative integers, got ${describe(value)}`);
      }
    }
  }
}

/**
 * The config of a built-in preset, as the native core defines it.
 *
 * @param name - a preset name
 * @throws {@link ConfigError} for an unknown name, listing the known ones
 *
 * @category Model
 */
export function presetConfig(name: PresetName): ModelConfig {
  if (typeof name !== 'string') throw new ConfigError(`a preset name must be a string, got ${describe(name)}`);
  const native = loadNative();
  return JSON.parse(callNative(() => native.presetConfig(name))) as ModelConfig;
}

/**
 * Builds a complete, validated {@link ModelConfig}.
 *
 * - `createConfig('densenet121')` — a preset;
 * - `createConfig('densenet121', { numClasses: 10 })` — a preset with overrides;
 * - `createConfig({ growthRate: 12, blockConfig: [16, 16, 16], ... })` — a (partial) config;
 *   missing fields get the native defaults;
 * - `createConfig({ preset: 'densenet-bc-100', numClasses: 100 })` — same as the second form.
 *
 * The result is normalized by the native core (`normalizeConfig`), which validates every
 * value (for example `growthRate > 0`, `compression` in (0, 1]).
 *
 * @param input - preset name or partial config
 * @param overrides - fields to override on top of `input`
 * @throws {@link ConfigError} naming the offending field (or listing the known presets)
 *
 * @example
 * ```ts
 * import { createConfig, DenseNet } from 'densenet-sdk';
 *
 * const c100 = createConfig('densenet-bc-100', { numClasses: 100 });      // a preset with overrides
 * const same = createConfig({ preset: 'densenet-bc-100', numClasses: 100 });
 * const tiny = createConfig({ growthRate: 12, blockConfig: [4, 4, 4], numInitFeatures: 24, numClasses: 10, smallInputs: true });
 * const model = DenseNet.create(tiny, { seed: 1 });
 * ```
 *
 * @category Model
 */
export function createConfig(input: ConfigInput, overrides: Partial<ModelConfig> = {}): ModelConfig {
  let base: Partial<ModelConfig>;
  if (typeof input === 'string') {
    base = presetConfig(input);
  } else {
    checkConfigTypes(input);
    const { preset, ...rest } = input;
    base = preset !== undefined ? { ...presetConfig(preset), ...rest } : { ...rest };
  }
  checkConfigTypes(overrides);
  if ('preset' in overrides) throw new ConfigError('overrides cannot name a preset');
  const merged = { ...base, ...overrides };
  const native = loadNative();
  const normalized = JSON.parse(callNative(() => native.normalizeConfig(JSON.stringify(merged)))) as ModelConfig;
  return normalized;
}

/**
 * Options of {@link cifarConfig}.
 *
 * @category Model
 */
export interface CifarConfigOptions {
  /**
   * Total depth L. Basic DenseNet: L = 3n + 4 (e.g. 40, 100); DenseNet-BC: L = 6n + 4
   * (e.g. 100, 190, 250), where n is the number of dense layers per block.
   */
  depth: number;
  /** Growth rate k (default 12). */
  growthRate?: number;
  /** DenseNet-BC (bottleneck + compression 0.5, stem 2k) instead of the basic DenseNet (stem 16, no compression). Default `false`. */
  bc?: boolean;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Dropout rate after each 3x3 conv (default 0). */
  dropRate?: number;
  /** Compression θ (default 0.5 for BC, 1 for basic). */
  compression?: number;
  /** Input channels (default 3). */
  inChannels?: number;
}

function checkCount(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > 0xffffffff) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${describe(v)}`);
  }
  return v;
}

/**
 * The CIFAR/SVHN DenseNet of the paper for a given depth: three dense blocks of n layers,
 * the 3x3 stride-1 stem (`smallInputs: true`). The native core applies the depth rule
 * (basic L = 3n + 4, BC L = 6n + 4) and builds the config; `dropRate`, `compression` and
 * `inChannels` are then applied as overrides.
 *
 * @example `cifarConfig({ depth: 100, growthRate: 12, bc: true })` is DenseNet-BC-100 (769,162 parameters).
 * @param options - depth, growth rate, variant and optional overrides
 * @throws {@link ConfigError} naming `depth` and the allowed form when depth is not 3n+4 (basic) / 6n+4 (BC)
 *
 * @category Model
 */
export function cifarConfig(options: CifarConfigOptions): ModelConfig {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`cifarConfig options must be an object, got ${describe(options)}`);
  }
  const { growthRate = 12, bc = false, numClasses = 10 } = options;
  if (typeof bc !== 'boolean') throw new ConfigError(`bc must be a boolean, got ${describe(bc)}`);
  const depth = checkCount('depth', options.depth, 0);
  checkCount('growthRate', growthRate, 0);
  checkCount('numClasses', numClasses, 0);
  const overrides: Partial<ModelConfig> = {};
  if (options.dropRate !== undefined) overrides.dropRate = options.dropRate;
  if (options.compression !== undefined) overrides.compression = options.compression;
  if (options.inChannels !== undefined) overrides.inChannels = options.inChannels;
  const native = loadNative();
  const base = JSON.parse(callNative(() => native.cifarConfig(depth, growthRate, bc, numClasses))) as ModelConfig;
  return createConfig(base, overrides);
}
