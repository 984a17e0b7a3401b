/**
 * Loading the native addon (napi-rs, crates/densenet-node): which build, from where, once per
 * process. Its typed interface and the typed-error calls are `native-binding.ts`; the platform,
 * package names and MPI job are `native-platform.ts`.
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
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { DeviceError, InvalidArgumentError, NativeLoadError, type NativeLoadAttempt } from './errors.js';
import { cudaLibraryProblem } from './internal/cuda-libs.js';
import { glibcShortfall } from './internal/glibc.js';
import { internalRequire } from './internal/here.cjs';
import { checkThreads } from './internal/validate.js';
import { callNative, checkExports, type NativeBinding } from './native-binding.js';
import {
  installedVersion,
  mpiEnvironment,
  nativeLoadAdvice,
  packageFacts,
  packageRoot,
  platformPackageName,
  platformTriple,
  type MpiEnvironment,
} from './native-platform.js';

// The names this module exported before its split, for the modules and tests that import them from here.
export {
  callNative,
  callNativeAsync,
  type MemoryEstimate,
  type NativeBinding,
  type NativeEvalResult,
  type NativeModel,
  type NativeModelConstructor,
  type NativeStepResult,
} from './native-binding.js';
export {
  PLATFORM_PACKAGE_SCOPE,
  mpiEnvironment,
  nativeLoadAdvice,
  packageRoot,
  platformPackageName,
  platformTriple,
  type MpiEnvironment,
} from './native-platform.js';

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

const requireNative = internalRequire;
const cache = new Map<string, LoadedNative>();

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
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
      // The CUDA addon is there but this machine lacks a CUDA library: a device error, not a
      // broken install (another copy of the addon would fail the same way).
      const device = info.cuda ? cudaLibraryProblem(c.target, reason) : undefined;
      if (device) throw new DeviceError(device);
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
 * Sets how many CPU threads the native core uses for models created afterwards.
 *
 * @param n - a positive integer, or 0 for all cores
 *
 * @category Native addon
 */
export function setNumThreads(n: number): void {
  checkThreads(n);
  const native = loadNative();
  callNative(() => native.setNumThreads(n));
}
