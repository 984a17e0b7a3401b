/**
 * Loading the native addon (napi-rs, crates/densenet-node) and calling it with typed errors.
 *
 * The addon is loaded lazily: importing the SDK loads nothing; the first call that needs the
 * core (`DenseNet.create`, `createConfig`, `loadNative`, ...) loads it, once per process.
 *
 * Lookup order (the first one that loads wins):
 * 1. `$DENSENET_NATIVE_PATH`, when set (an explicit `.node` file);
 * 2. `native/densenet.<platform>.node` under the package root (built by `npm run build:native`);
 * 3. the platform package: `@densenet-sdk/linux-x64-gnu-cuda` when CUDA is asked for,
 *    otherwise `@densenet-sdk/linux-x64-gnu` (the name follows the running platform; its version
 *    must equal this package's).
 *
 * Under MPI (`mpirun`; see {@link mpiEnvironment}) only the MPI variant is tried, with no fallback:
 * `native/densenet.<platform>-mpi.node`, then `@densenet-sdk/<platform>-mpi` (it links libmpi, so
 * the default addon never does, and nothing MPI-related loads outside mpirun).
 *
 * If none loads (and CUDA was not asked for), the WASM build is the fallback (the same binding
 * interface, one thread, SIMD128; crates/densenet-wasm, built by `npm run build:wasm`):
 * 4. `npm/wasm32/index.cjs` under the package root;
 * 5. the package `@densenet-sdk/wasm32`.
 *
 * `DENSENET_BACKEND` (or the `backend` option) chooses: `wasm` loads only the WASM build,
 * `native` only the native addon (no fallback), `auto` (the default) native first, then WASM.
 * {@link loadNativeWithInfo} says which one was loaded (`info.backend`).
 *
 * If none loads, {@link loadNative} throws a {@link NativeLoadError} listing every path and
 * package tried and why each failed, and ending with the fix: the `npm install` command of the
 * missing platform package, or the list of platforms that have one.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { InvalidArgumentError, NativeLoadError, toDenseNetError, type NATIVE_ERROR_CODES, type NativeLoadAttempt } from './errors.js';
import { glibcShortfall } from './internal/glibc.js';
import { internalDir, internalRequire } from './internal/here.cjs';

/**
 * Result of one training step, as returned by the native addon.
 *
 * @category Native addon
 */
export interface NativeStepResult {
  /** Mean cross-entropy loss of the batch. */
  loss: number;
  /** Number of samples whose arg-max logit equals the label. */
  correct: number;
}

/**
 * Result of one evaluation step, as returned by the native addon.
 *
 * @category Native addon
 */
export interface NativeEvalResult extends NativeStepResult {
  /** Logits, `N * numClasses`, row-major. */
  logits: Float32Array;
}

/**
 * The native model object (`NativeModel` of crates/densenet-node); see ts/native-api.md.
 * Every method throws (or rejects with) a JS `Error` whose `code` property is one of
 * {@link NATIVE_ERROR_CODES}.
 *
 * @category Native addon
 */
export interface NativeModel {
  /** Storage dtype of the weights: `'f32'` or `'f64'`. */
  readonly dtype: string;
  /** The normalized config as JSON. */
  configJson(): string;
  /** Number of trainable parameters (conv + BN affine + linear). */
  paramCount(): number;
  /** Per-stage table for an input of `height` x `width`, as JSON. */
  summaryJson(height: number, width: number): string;
  /** Eval-mode forward of an NCHW float32 batch; resolves to `N * numClasses` logits. */
  predict(input: Float32Array, shape: number[]): Promise<Float32Array>;
  /**
   * Writes the weights (safetensors, torchvision names) with the config under the header's
   * `__metadata__` key `densenet.config`, plus `metadataJson`: a JSON object of string → string
   * pairs stored next to it (the key `densenet.config` is reserved and rejected).
   */
  save(path: string, metadataJson?: string | null): Promise<void>;
  /** Reads weights written by `save` (or converted torchvision weights). */
  load(path: string): Promise<void>;
  /**
   * Loads safetensors weights from bytes; `sourceName` names them in errors. The native binding
   * resolves a promise (the work runs on the thread pool), the WASM build returns at once; the
   * SDK awaits either. `DenseNet.load` hands over PyTorch files converted to safetensors here.
   */
  loadWeightsBytes(bytes: Uint8Array, sourceName: string): Promise<void> | void;
  /** One optimizer step in train mode. */
  trainStep(input: Float32Array, shape: number[], labels: Int32Array): Promise<NativeStepResult>;
  /**
   * MPI variant only: one data-parallel step over MPI_COMM_WORLD on this rank's share of the
   * global batch; resolves to the global batch's loss and correct count.
   */
  trainStepDistributed?(input: Float32Array, shape: number[], labels: Int32Array, syncBn: boolean): Promise<NativeStepResult>;
  /** Eval-mode loss, accuracy and logits. */
  evalStep(input: Float32Array, shape: number[], labels: Int32Array): Promise<NativeEvalResult>;
  /** Sets the optimizer from JSON `{"lr","momentum","nesterov","weightDecay"}` (validated; missing fields take the defaults). */
  setOptimizer(optJson: string): void;
  /** Sets the learning rate of the current optimizer. */
  setLearningRate(lr: number): void;
  /** The current optimizer settings as JSON. */
  optimizerJson(): string;
  /**
   * Multiplies every parameter group's lr (the top level's too) by `factor` from the next step
   * on; a schedule sets `schedule(epoch) / schedule(0)` (PyTorch's schedulers scale each group so).
   */
  setLrFactor(factor: number): void;
  /** Freezes the parameters a JSON array of specs names (name prefixes or stage aliases). */
  freeze(specsJson: string): void;
  /** Makes the parameters a JSON array of specs names trainable again. */
  unfreeze(specsJson: string): void;
  /** How BNs with frozen affine parameters normalize in training: `'eval'` (default) or `'train'`. */
  setFrozenBatchNorm(mode: string): void;
  /** The mode set by {@link NativeModel.setFrozenBatchNorm}. */
  frozenBatchNorm(): string;
  /** JSON `[{name, shape, trainable, group}]` of every parameter tensor (no running statistics). */
  parametersJson(): string;
  /** Number of parameters (elements) that train. */
  trainableParamCount(): number;
  /** A new classifier for `numClasses` classes, initialized from `seed`; the features are kept. */
  resetClassifier(numClasses: number, seed: number): void;
  /** Number of CPU threads this model uses (>= 1). */
  setThreads(threads: number): void;
  /** Completed optimizer steps. */
  readonly step: number;
  /** `'efficient'` (default) or `'naive'`. */
  setMemoryMode(mode: string): void;
  /** Weights + BN statistics + optimizer state + caller JSON, written atomically. */
  saveCheckpoint(path: string, extraJson: string): Promise<void>;
  /** Restores a checkpoint; resolves to the caller JSON stored with it. */
  loadCheckpoint(path: string): Promise<string>;
  /**
   * Frees the native memory at once. Every later call — and every call queued but not yet
   * started — fails with code `ERR_INVALID_ARG`, message "the model was disposed".
   */
  dispose(): void;
  /** Peak bytes of the model and one pass on `shape` (JSON of {@link MemoryEstimate}). */
  memoryEstimate(shape: number[]): string;
  /** The memory budget in bytes, or null for the machine's available memory at each call. */
  setMemoryBudget(bytes: number | null): void;
  /** The budget set by {@link NativeModel.setMemoryBudget}, or null. */
  memoryBudget(): number | null;
}

/**
 * Peak memory in bytes, by what holds it (the native core's estimate from the plan). The activation
 * figures include the backend's own scratch where it is large: on a GPU the conv column buffer (up
 * to 256 MiB in f32, 512 MiB in f64) and the 32 MiB cuBLAS workspace.
 *
 * @category Model
 */
export interface MemoryEstimate {
  /** Parameters and BN running statistics. */
  parameters: number;
  /** Gradients (allocated by the first training step). */
  gradients: number;
  /** SGD momentum buffers. */
  optimizer: number;
  /** Peak activations of one predict (no training tape). */
  inference: number;
  /** Peak activations of one training step in the efficient memory mode. */
  trainingEfficient: number;
  /** Peak activations of one training step in the naive memory mode. */
  trainingNaive: number;
}

/**
 * Constructor of {@link NativeModel}.
 *
 * @category Native addon
 */
export interface NativeModelConstructor {
  /**
   * @param configJson - ModelConfig JSON; @param dtype - `'f32'` | `'f64'`; @param seed - init seed;
   * @param device - `'cpu'` (default), `'cuda'` or `'cuda:N'` (the CUDA build; else `ERR_DEVICE`)
   */
  new (configJson: string, dtype: string, seed: number, device?: string): NativeModel;
}

/**
 * The exports of the native addon (see ts/native-api.md).
 *
 * @category Native addon
 */
export interface NativeBinding {
  /** The model class. */
  NativeModel: NativeModelConstructor;
  /** JSON of a preset's config; throws `ERR_INVALID_CONFIG` for unknown names, listing the known ones. */
  presetConfig(name: string): string;
  /** Names of all presets. */
  presetNames(): string[];
  /** Validates a config JSON and fills defaults; throws `ERR_INVALID_CONFIG` naming the field. */
  normalizeConfig(json: string): string;
  /** Config JSON of a CIFAR DenseNet of the given depth (basic 3n+4, BC 6n+4); throws `ERR_INVALID_CONFIG` for another depth. */
  cifarConfig(depth: number, growthRate: number, bc: boolean, numClasses: number): string;
  /**
   * Validates SGD options JSON `{lr, momentum, nesterov, weightDecay}`, fills the defaults (the
   * reference recipe) and returns it normalized; throws `ERR_INVALID_ARG` naming the field.
   */
  normalizeOptimizer(json: string): string;
  /**
   * Learning rate of a schedule at a (fractional) epoch. Schedule JSON:
   * `{"type":"multiStep","lr":0.1,"milestones":[150,225],"gamma":0.1}` or
   * `{"type":"cosine","lr":0.1,"epochs":300}`; validated (`ERR_INVALID_ARG`).
   */
  scheduleLr(scheduleJson: string, epoch: number): number;
  /** The reference recipe's schedule for `epochs` epochs (lr ÷ 10 at 50% and 75%), as multiStep JSON. */
  referenceSchedule(lr: number, epochs: number): string;
  /** Sets the number of CPU threads of models created afterwards (0 = all cores). */
  setNumThreads(n: number): void;
  /** Peak bytes of a config on an NCHW shape in a dtype, as JSON of {@link MemoryEstimate}. */
  memoryEstimate(configJson: string, shape: number[], dtype: string): string;
  /**
   * The GPU check's NCCL smoke run (benches/gpu): on `device` ('cuda' | 'cuda:N'), NCCL
   * all-reduces known f32/f64 device buffers and host values in place in a world of one process.
   * `ERR_DEVICE` in the CPU build, without a GPU, or without libnccl.so.2 (naming it). Optional:
   * addons built before it lack it.
   */
  cudaNcclSmoke?(device: string): { ranks: number; sum: number; expected: number; ok: boolean; library: string; device: string };
  /** MPI variant only: initializes MPI once (thread level serialized); this process's rank and the world size. */
  mpiInit?(): { rank: number; size: number; library: string };
  /** MPI variant only: waits for every rank. */
  mpiBarrier?(): void;
  /** MPI variant only: element-wise sums over all ranks (the same result everywhere). */
  mpiAllReduceSum?(values: number[]): number[];
  /** MPI variant only: MPI_Finalize (idempotent). */
  mpiFinalize?(): void;
  /** MPI variant only: MPI_Abort on MPI_COMM_WORLD: ends every rank with `code`. */
  mpiAbort?(code: number): void;
}

/**
 * Options of {@link loadNative}.
 *
 * @category Native addon
 */
export interface LoadNativeOptions {
  /**
   * Prefer the CUDA build: the `-cuda` platform package is tried instead of the CPU one.
   * Defaults to `true` when the environment variable `DENSENET_CUDA=1`.
   */
  cuda?: boolean;
  /**
   * Load the MPI variant (`-mpi`, linked to libmpi) and nothing else. Defaults to `true` when the
   * process runs under MPI (see {@link mpiEnvironment}).
   */
  mpi?: boolean;
  /**
   * Which build to load: `'native'` (the addon only), `'wasm'` (the WASM build only) or
   * `'auto'` (the addon, else the WASM build). Defaults to `$DENSENET_BACKEND`, else `'auto'`.
   */
  backend?: BackendChoice;
}

/**
 * Which build of the core to load (see {@link LoadNativeOptions.backend}).
 *
 * @category Native addon
 */
export type BackendChoice = 'auto' | 'native' | 'wasm';

/**
 * Information about the addon that was loaded.
 *
 * @category Native addon
 */
export interface NativeInfo {
  /** The file path or package name it was loaded from. */
  readonly source: string;
  /** Whether the CUDA variant was asked for. */
  readonly cuda: boolean;
  /** Whether the MPI variant was loaded. */
  readonly mpi?: boolean;
  /** The build that was loaded: the native addon or the WASM fallback (one thread). */
  readonly backend: 'native' | 'wasm';
}

/**
 * A loaded addon and where it came from (see {@link loadNativeWithInfo}).
 *
 * @category Native addon
 */
export interface LoadedNative {
  /** The addon's exports. */
  binding: NativeBinding;
  /** Where it was loaded from. */
  info: NativeInfo;
}

const REQUIRED_EXPORTS = [
  'NativeModel',
  'presetConfig',
  'presetNames',
  'normalizeConfig',
  'cifarConfig',
  'normalizeOptimizer',
  'scheduleLr',
  'referenceSchedule',
  'setNumThreads',
  'memoryEstimate',
] as const;

/** Methods every `NativeModel` must have (an older addon lacks the fine-tuning ones). */
const REQUIRED_MODEL_METHODS = [
  'dispose',
  'setLrFactor',
  'freeze',
  'unfreeze',
  'setFrozenBatchNorm',
  'frozenBatchNorm',
  'parametersJson',
  'trainableParamCount',
  'resetClassifier',
] as const;

/** The extra exports of the MPI variant. */
const MPI_EXPORTS = ['mpiInit', 'mpiBarrier', 'mpiAllReduceSum', 'mpiFinalize', 'mpiAbort'] as const;

const requireNative = internalRequire;
const cache = new Map<string, LoadedNative>();

/**
 * The root directory of this package (the nearest ancestor of this module holding a
 * `package.json` named `densenet-sdk`); works from `ts/` (tsx), `dist/` (ESM) and `dist/cjs/`
 * (CommonJS), in the repository and in an installed copy.
 */
export function packageRoot(): string {
  let dir = internalDir;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'densenet-sdk') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return join(internalDir, '..', '..');
    dir = up;
  }
}

function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return !header?.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/**
 * The napi-rs platform triple of the running process, e.g. `linux-x64-gnu`,
 * `darwin-arm64`, `win32-x64-msvc`.
 */
export function platformTriple(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') return `${base}-${isMusl() ? 'musl' : 'gnu'}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  return base;
}

/** The npm scope of the platform packages (`@densenet-sdk/linux-x64-gnu`, ...). */
export const PLATFORM_PACKAGE_SCOPE = '@densenet-sdk';

/**
 * The platform package of a triple: `@densenet-sdk/<triple>`, or `@densenet-sdk/<triple>-cuda`.
 *
 * @param triple - a platform triple (see {@link platformTriple})
 * @param cuda - the CUDA variant
 */
export function platformPackageName(triple: string, cuda = false, mpi = false): string {
  return `${PLATFORM_PACKAGE_SCOPE}/${triple}${cuda ? '-cuda' : ''}${mpi ? '-mpi' : ''}`;
}

/**
 * Where this process stands in an MPI job, from the launcher's environment variables.
 *
 * @category Native addon
 */
export interface MpiEnvironment {
  /** This process's rank in the world, `0..size-1`. */
  rank: number;
  /** Processes in the world. */
  size: number;
  /** Rank among the processes on this node. */
  localRank: number;
  /** Processes on this node (when the launcher says; else `size`). */
  localSize: number;
  /** The variable the rank came from (`OMPI_COMM_WORLD_RANK`, `PMI_RANK`, ...). */
  source: string;
}

/**
 * The MPI job this process belongs to, from the launcher's variables: Open MPI
 * (`OMPI_COMM_WORLD_RANK`/`SIZE`/`LOCAL_RANK`/`LOCAL_SIZE`), MPICH and Intel MPI (`PMI_RANK`/`PMI_SIZE`,
 * `MPI_LOCALRANKID`/`MPI_LOCALNRANKS`), MVAPICH2 (`MV2_COMM_WORLD_*`). `null` outside MPI, or when
 * `DENSENET_MPI=0`.
 *
 * @param env - the environment (default `process.env`)
 *
 * @category Native addon
 */
export function mpiEnvironment(env: NodeJS.ProcessEnv = process.env): MpiEnvironment | null {
  if (env.DENSENET_MPI === '0') return null;
  const int = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const schemes: [string, string, string, string][] = [
    ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_SIZE'],
    ['MV2_COMM_WORLD_RANK', 'MV2_COMM_WORLD_SIZE', 'MV2_COMM_WORLD_LOCAL_RANK', 'MV2_COMM_WORLD_LOCAL_SIZE'],
    ['PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID', 'MPI_LOCALNRANKS'],
  ];
  for (const [r, n, lr, ls] of schemes) {
    const rank = int(env[r]);
    const size = int(env[n]);
    if (rank === undefined || size === undefined || size < 1 || rank >= size) continue;
    return { rank, size, localRank: int(env[lr]) ?? rank, localSize: int(env[ls]) ?? size, source: r };
  }
  return null;
}

/** This package's version and the triples that have a platform package (its optionalDependencies). */
function packageFacts(): { version: string; triples: string[]; checkout: boolean } {
  const rootDir = packageRoot();
  let version = '';
  let triples: string[] = [];
  try {
    const pkg = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as {
      version?: string;
      optionalDependencies?: Record<string, string>;
    };
    version = pkg.version ?? '';
    const prefix = `${PLATFORM_PACKAGE_SCOPE}/`;
    triples = Object.keys(pkg.optionalDependencies ?? {})
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length));
  } catch {
    /* an unreadable package.json: no facts */
  }
  // A git checkout holds the Rust sources: the addon can be built there.
  const checkout = existsSync(join(rootDir, 'crates', 'densenet-node', 'Cargo.toml'));
  return { version, triples, checkout };
}

/**
 * What a user does about a failed load: the lines after the list of attempts in the
 * {@link NativeLoadError} message.
 *
 * @param facts - the running platform, the variant, what was tried, this package's version, the
 *   triples with a platform package and whether this is a source checkout
 * @internal
 */
export function nativeLoadAdvice(facts: {
  triple: string;
  cuda: boolean;
  attempts: readonly NativeLoadAttempt[];
  version: string;
  triples: readonly string[];
  checkout: boolean;
}): string {
  const { triple, cuda, version, triples, checkout } = facts;
  const pkg = platformPackageName(triple, cuda);
  const spec = version ? `${pkg}@${version}` : pkg;
  const tarball = `${pkg.slice(1).replace('/', '-')}${version ? `-${version}` : ''}.tgz`;
  const lines: string[] = [];
  if (!triples.includes(triple)) {
    const known = triples.length ? triples.map((t) => `${t} (${platformPackageName(t)})`).join(', ') : 'none';
    lines.push(
      `There is no prebuilt addon for ${triple}. Platforms with a prebuilt addon: ${known}.`,
      'Elsewhere, build densenet-sdk from source (Rust needed): see "Building from source" in its README.',
    );
  } else {
    const attempt = facts.attempts.find((a) => a.target === pkg);
    const installed = attempt !== undefined && attempt.reason !== 'package is not installed';
    if (installed) {
      lines.push(`${pkg} is installed but did not load (see above). Reinstall it at the version of densenet-sdk:`);
    } else if (cuda) {
      lines.push(`The CUDA addon is the package ${pkg}, which densenet-sdk does not install by itself. Install it:`);
    } else {
      lines.push(
        `The addon is the platform package ${pkg}, an optional dependency of densenet-sdk that was not installed`,
        '(npm leaves an optional dependency out with --omit=optional, when it cannot fetch it, or with a lockfile from another platform). Install it:',
      );
    }
    lines.push(`  npm install ${spec}`, `(or its packed tarball: npm install ./${tarball})`);
    if (cuda) lines.push('Without DENSENET_CUDA=1 (or with loadNative({ cuda: false })) the CPU addon is used.');
  }
  if (checkout) {
    lines.push(
      cuda
        ? `In this source checkout, \`npm run build:cuda\` builds native/densenet.${triple}-cuda.node (no GPU needed to build).`
        : `In this source checkout, \`npm run build:native\` builds native/densenet.${triple}.node.`,
    );
  }
  return lines.join('\n');
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}

function checkExports(mod: unknown, mpi = false): string | undefined {
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return 'module has no exports';
  const required: readonly string[] = mpi ? [...REQUIRED_EXPORTS, ...MPI_EXPORTS] : REQUIRED_EXPORTS;
  const missing: string[] = required.filter((k) => typeof (mod as Record<string, unknown>)[k] !== 'function');
  if (mpi && missing.length) return `not the MPI variant of the addon (missing exports: ${missing.join(', ')})`;
  const proto = (mod as { NativeModel?: { prototype?: Record<string, unknown> } }).NativeModel?.prototype;
  if (proto) missing.push(...REQUIRED_MODEL_METHODS.filter((m) => typeof proto[m] !== 'function').map((m) => `NativeModel.prototype.${m}`));
  return missing.length ? `missing exports (an older build of the addon?): ${missing.join(', ')}` : undefined;
}

/** The version in an installed package's package.json, or `undefined` when it cannot be read. */
function installedVersion(name: string): string | undefined {
  try {
    const file = requireNative.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * Loads the native addon (once per variant; later calls return the cached binding).
 *
 * @param options - `cuda: true` to prefer the CUDA build
 * @returns the addon's exports
 * @throws {@link NativeLoadError} listing every path/package tried and why each failed
 *
 * @category Native addon
 */
export function loadNative(options: LoadNativeOptions = {}): NativeBinding {
  return loadNativeWithInfo(options).binding;
}

/**
 * Like {@link loadNative} but also says where the addon came from.
 *
 * @param options - `cuda: true` to prefer the CUDA build
 *
 * @category Native addon
 */
export function loadNativeWithInfo(options: LoadNativeOptions = {}): LoadedNative {
  const cuda = options.cuda ?? process.env.DENSENET_CUDA === '1';
  const mpiEnv = mpiEnvironment();
  const mpi = options.mpi ?? mpiEnv !== null;
  const choice = backendChoice(options.backend);
  const key = `${cuda ? 'cuda' : 'cpu'}:${mpi ? 'mpi' : ''}:${choice}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (mpi) {
    const entry = loadMpiVariant(cuda, choice, mpiEnv);
    cache.set(key, entry);
    return entry;
  }

  const triple = platformTriple();
  const pkgName = platformPackageName(triple, cuda);
  const facts = packageFacts();
  const attempts: NativeLoadAttempt[] = [];
  if (choice !== 'wasm') {
    const override = process.env.DENSENET_NATIVE_PATH;
    if (override) {
      // An explicit addon is used or it is an error: never a silent fallback to another build.
      const entry = tryLoad([{ target: override, kind: 'file' }], attempts, { cuda, backend: 'native' }, facts);
      if (entry) {
        cache.set(key, entry);
        return entry;
      }
      throw new NativeLoadError(
        `DENSENET_NATIVE_PATH=${override} could not be loaded (${attempts[0]?.reason ?? 'unknown reason'}); fix the path or unset DENSENET_NATIVE_PATH`,
        attempts,
      );
    }
    const candidates: Candidate[] = [
      { target: join(packageRoot(), 'native', `densenet.${triple}${cuda ? '-cuda' : ''}.node`), kind: 'file' },
      { target: pkgName, kind: 'package' },
    ];
    const entry = tryLoad(candidates, attempts, { cuda, backend: 'native' }, facts);
    if (entry) {
      cache.set(key, entry);
      return entry;
    }
  }
  // The WASM build has no CUDA: a CUDA request never falls back to it silently.
  if (choice === 'wasm' || (choice === 'auto' && !cuda)) {
    const candidates: Candidate[] = [
      { target: join(packageRoot(), 'npm', 'wasm32', 'index.cjs'), kind: 'file' },
      { target: WASM_PACKAGE, kind: 'package' },
    ];
    const entry = tryLoad(candidates, attempts, { cuda, backend: 'wasm' }, facts);
    if (entry) {
      cache.set(key, entry);
      return entry;
    }
  }
  const list = attempts.map((a) => `  - ${a.target}: ${a.reason}`).join('\n');
  const what =
    choice === 'wasm'
      ? 'the densenet-sdk WASM build (DENSENET_BACKEND=wasm)'
      : `the densenet-sdk native addon${cuda ? ' (CUDA)' : ''}${choice === 'auto' && !cuda ? ' or its WASM fallback' : ''}`;
  const fix =
    choice === 'wasm'
      ? 'Build it with `npm run build:wasm`, or install the package @densenet-sdk/wasm32.'
      : nativeLoadAdvice({ triple, cuda, attempts, ...facts });
  throw new NativeLoadError(`could not load ${what} for ${triple}. Tried:\n${list}\n${fix}`, attempts);
}

/**
 * The MPI variant: `$DENSENET_NATIVE_PATH`, else `native/densenet.<triple>-mpi.node`, else the
 * `-mpi` platform package; never the default addon or WASM (they cannot join the job).
 */
function loadMpiVariant(cuda: boolean, choice: BackendChoice, env: MpiEnvironment | null): LoadedNative {
  const where = env ? `this process runs under MPI (${env.source}=${env.rank}, world size ${env.size})` : 'the MPI variant was asked for';
  if (cuda) throw new InvalidArgumentError(`${where}, but there is no MPI build of the CUDA addon yet: unset DENSENET_CUDA`);
  if (choice === 'wasm') throw new InvalidArgumentError(`${where}, but DENSENET_BACKEND=wasm: the WASM build has no MPI; use the native addon`);
  const triple = platformTriple();
  const pkg = platformPackageName(triple, false, true);
  const facts = packageFacts();
  const attempts: NativeLoadAttempt[] = [];
  const override = process.env.DENSENET_NATIVE_PATH;
  const candidates: Candidate[] = override
    ? [{ target: override, kind: 'file' }]
    : [
        { target: join(packageRoot(), 'native', `densenet.${triple}-mpi.node`), kind: 'file' },
        { target: pkg, kind: 'package' },
      ];
  const entry = tryLoad(candidates, attempts, { cuda: false, mpi: true, backend: 'native' }, facts);
  if (entry) return entry;
  const list = attempts.map((a) => `  - ${a.target}: ${a.reason}`).join('\n');
  const fix = [
    `The MPI variant of the addon is the package ${pkg} (npm install ${pkg}${facts.version ? `@${facts.version}` : ''}), or in a source checkout`,
    '`npm run build:native:mpi` (it installs Open MPI when missing: scripts/install-mpi.sh). It needs libmpi (Open MPI 4:',
    '`apt-get install openmpi-bin libopenmpi-dev`). To run this process alone under mpirun, set DENSENET_MPI=0.',
  ].join('\n');
  throw new NativeLoadError(`could not load the MPI variant of the densenet-sdk addon for ${triple}: ${where}. Tried:\n${list}\n${fix}`, attempts);
}

/** The npm package of the WASM build. */
const WASM_PACKAGE = '@densenet-sdk/wasm32';

interface Candidate {
  target: string;
  kind: 'file' | 'package';
}

function backendChoice(option: BackendChoice | undefined): BackendChoice {
  const raw = option ?? process.env.DENSENET_BACKEND ?? 'auto';
  const value = raw === '' ? 'auto' : raw;
  if (value === 'auto' || value === 'native' || value === 'wasm') return value;
  const what = option === undefined ? 'DENSENET_BACKEND' : 'backend';
  throw new InvalidArgumentError(`${what} must be 'auto', 'native' or 'wasm', got '${String(raw)}'`);
}

function tryLoad(
  candidates: Candidate[],
  attempts: NativeLoadAttempt[],
  info: Omit<NativeInfo, 'source'>,
  facts: ReturnType<typeof packageFacts>,
): LoadedNative | undefined {
  for (const c of candidates) {
    if (c.kind === 'file' && !existsSync(c.target)) {
      attempts.push({ target: c.target, reason: 'file does not exist' });
      continue;
    }
    if (c.kind === 'package') {
      const version = installedVersion(c.target);
      if (version !== undefined && facts.version && version !== facts.version) {
        attempts.push({ target: c.target, reason: `version ${version} is installed, densenet-sdk ${facts.version} needs the same version` });
        continue;
      }
    }
    if (c.kind === 'package') {
      const version = installedVersion(c.target);
      if (version !== undefined && facts.version && version !== facts.version) {
        attempts.push({ target: c.target, reason: `version ${version} is installed, densenet-sdk ${facts.version} needs the same version` });
        continue;
      }
    }
    const glibc = glibcShortfall(c.target, c.kind);
    if (glibc) {
      attempts.push({ target: c.target, reason: glibc });
      continue;
    }
    let mod: unknown;
    try {
      mod = requireNative(c.target);
    } catch (err) {
      const code = (err as { code?: string }).code;
      const reason =
        c.kind === 'package' && code === 'MODULE_NOT_FOUND' ? 'package is not installed' : firstLine(err);
      attempts.push({ target: c.target, reason });
      continue;
    }
    const bad = checkExports(mod, info.mpi === true);
    if (bad) {
      attempts.push({ target: c.target, reason: bad });
      continue;
    }
    return { binding: mod as NativeBinding, info: { source: c.target, ...info } };
  }
  return undefined;
}

/**
 * Calls a synchronous native function, mapping its errors to typed SDK errors
 * (see {@link toDenseNetError}).
 *
 * @param fn - the call
 */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toDenseNetError(err);
  }
}

/**
 * Awaits an asynchronous native call, mapping its rejection (or a synchronous throw
 * before the promise exists) to typed SDK errors.
 *
 * @param fn - the call
 */
export async function callNativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toDenseNetError(err);
  }
}

/**
 * Sets how many CPU threads the native core uses for models created afterwards.
 *
 * @param n - a positive integer, or 0 for all cores
 *
 * @category Native addon
 */
export function setNumThreads(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`threads must be a non-negative integer (0 = all cores), got ${String(n)}`);
  }
  const native = loadNative();
  callNative(() => native.setNumThreads(n));
}
