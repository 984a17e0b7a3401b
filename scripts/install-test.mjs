#!/usr/bin/env node
// Install test: does the package work for a user who runs `npm install densenet-sdk` on a machine
// without a Rust toolchain?
//
// 1. packs the three packages as a release does (scripts/pack.mjs: the main package from a staging
//    copy with a fresh TypeScript build and the published package.json, never touching dist/,
//    which other tests may be reading; the platform package @densenet-sdk/linux-x64-gnu from
//    native/densenet.linux-x64-gnu.node; the WASM package @densenet-sdk/wasm32 from npm/wasm32);
// 2. creates an empty project and `npm install`s both tarballs there (a normal install: lifecycle
//    scripts enabled; dependencies from the npm registry or its cache), with cargo/rustc removed
//    from PATH and DENSENET_NATIVE_PATH unset; and a second project with the main tarball alone
//    (`--omit=optional`: the platform package left out, as a user may); and a third with the main
//    tarball and the WASM package only (what a platform without a native package gets);
// 3. runs, from the first project: `npx densenet info densenet121`; an ESM and a CommonJS consumer
//    that create a model (parameterCount), predict, run one training batch (trainStep) and read the
//    embedded MNIST; an abort of a running `predict` (and of `train`) that must reject with the
//    SDK's AbortError; a CUDA request that must fail naming the CUDA package; and `tsc --noEmit` of
//    a `strict: true` TypeScript consumer (ESM .mts and CommonJS .cts) against the installed types;
//    from the WASM-only project: the consumer on the WASM build, `densenet info`, `train`, `eval`;
//    from the second: the first call and `npx densenet` must fail naming `npm install
//    @densenet-sdk/linux-x64-gnu@<version>`;
// 4. checks the install output (no install-script warning), the installed manifest (no lifecycle
//    scripts, workspaces or devDependencies) and the file lists: the published tarball holds only
//    dist/, assets/, README.md, LICENSE and package.json (also `npm pack --dry-run` of the
//    repository itself).
//
// Standalone: `npm run test:install` (TAP output, exit code 0 when all pass). From `npm test` it
// runs as the ava test file test/package.test.ts, which calls the same functions.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { publishedManifest, packAll } from './pack.mjs';
import { formatBytesLikeNpm, platformPackageName } from './pack-platform.mjs';
import { WASM_PACKAGE } from './pack-wasm.mjs';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npxCmd = process.platform === 'win32' ? 'npx.cmd' : 'npx';
/** The CPU platform package of this machine (the install test runs on linux-x64-gnu). */
const PLATFORM_PKG = platformPackageName('linux-x64-gnu');
const CUDA_PKG = platformPackageName('linux-x64-gnu', true);
const VERSION = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** Files a published tarball may contain (paths relative to the package root). */
export function isAllowedPackageFile(path) {
  if (path === 'package.json' || path === 'README.md' || path === 'LICENSE') return true;
  if (path.startsWith('assets/')) return true;
  return path.startsWith('dist/') && !path.endsWith('.map');
}

function hasExecutable(dir, name) {
  for (const n of process.platform === 'win32' ? [`${name}.exe`, `${name}.cmd`] : [name]) {
    try {
      if (statSync(join(dir, n)).isFile()) return true;
    } catch {
      /* not there */
    }
  }
  return false;
}

function which(name, path) {
  for (const dir of path.split(delimiter)) if (dir && hasExecutable(dir, name)) return join(dir, name);
  return undefined;
}

/**
 * The environment of a user without Rust: PATH without the directories that hold cargo or rustc
 * (rustup's ~/.cargo/bin and the like). A system directory that also holds the shell (Debian's
 * Rust puts cargo in /usr/bin) cannot be dropped: there cargo and rustc are shadowed by failing
 * shims put first on PATH. When node/npm live in a dropped directory, links to them go there too.
 * No Rust or npm-lifecycle variables, no DENSENET_* variables.
 * @param {string} shimDir - where to put the shims and the node/npm/npx links
 */
export function userEnv(shimDir) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(npm_|NPM_CONFIG_PREFIX$|INIT_CWD$|CARGO|RUST|DENSENET_)/i.test(k)) continue;
    env[k] = v;
  }
  const hasRust = (d) => hasExecutable(d, 'cargo') || hasExecutable(d, 'rustc');
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d && (!hasRust(d) || hasExecutable(d, 'sh')));
  let path = [...new Set(dirs)].join(delimiter);
  mkdirSync(shimDir, { recursive: true });
  for (const tool of ['cargo', 'rustc']) {
    const shim = join(shimDir, tool);
    if (!existsSync(shim)) writeFileSync(shim, `#!/bin/sh\necho "${tool}: not installed (hidden by the install test)" >&2\nexit 127\n`, { mode: 0o755 });
  }
  if (!which('node', path) || !which('npm', path) || !which('npx', path)) {
    const nodeDir = dirname(process.execPath);
    for (const name of ['node', 'npm', 'npx']) {
      const target = name === 'node' ? process.execPath : which(name, process.env.PATH ?? '') ?? join(nodeDir, name);
      if (!existsSync(join(shimDir, name))) symlinkSync(target, join(shimDir, name));
    }
  }
  env.PATH = shimDir + delimiter + path;
  return env;
}

/** Runs a command, returning { code, stdout, stderr }; throws only if it could not start. */
export function exec(cmd, args, { cwd, env, timeout = 240_000 } = {}) {
  const res = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  if (res.error) throw res.error;
  return { code: res.status ?? -1, signal: res.signal, stdout: res.stdout ?? '', stderr: res.stderr ?? '' };
}

function mustSucceed(what, r) {
  if (r.code !== 0) {
    throw new Error(`${what} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.stdout}\n${r.stderr}`.trim());
  }
  return r;
}

/** The last line of stdout parsed as JSON. */
function lastJson(r) {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '');
}

/** The tests' tiny DenseNet-BC (test/fixtures/tiny-config.json, shared with test/helpers/util.ts). */
const TINY = JSON.parse(readFileSync(join(root, 'test/fixtures/tiny-config.json'), 'utf8'));

// Creates a model, then predict + one training batch + the embedded MNIST, printing one JSON line.
const CONSUMER_BODY = `
const tiny = ${JSON.stringify(TINY)};
async function main() {
  const model = sdk.DenseNet.create(tiny, { seed: 3 });
  const bc100 = sdk.DenseNet.create('densenet-bc-100', { seed: 1 });
  const n = 4, shape = [n, 3, 16, 16];
  const x = new Float32Array(n * 3 * 16 * 16);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const pred = await model.predict(x, shape);
  const top = pred.topK(3);
  model.setOptimizer({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
  const labels = Int32Array.from([1, 2, 3, 4]);
  const s1 = await model.trainStep(x, shape, labels);
  const s2 = await model.trainStep(x, shape, labels);
  const mnist = await sdk.loadMnist();
  const info = sdk.loadNativeWithInfo().info;
  console.log(JSON.stringify({
    format: typeof require === 'function' && typeof module === 'object' ? 'cjs' : 'esm',
    parameterCount: bc100.parameterCount,
    tinyParams: model.parameterCount,
    predictShape: pred.shape,
    logitsFinite: Array.from(pred.logits).every(Number.isFinite),
    top3: top[0].length,
    losses: [s1.loss, s2.loss],
    step: model.step,
    mnist: mnist.length,
    nativeSource: info.source,
    backend: info.backend,
    errorsAreClasses: typeof sdk.DenseNetError === 'function' && new sdk.ShapeError('x') instanceof sdk.DenseNetError,
  }));
}
main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
`;

const ESM_CONSUMER = `import * as sdk from 'densenet-sdk';\n${CONSUMER_BODY}`;
const CJS_CONSUMER = `'use strict';\nconst sdk = require('densenet-sdk');\n${CONSUMER_BODY}`;

// Aborts a running predict (densenet121, 224x224: long enough to be caught in the native core) and
// a running train; both must reject with the SDK's AbortError, the model staying usable.
const ABORT_CONSUMER = `import { AbortError, DenseNet, DenseNetError, SubsetDataset, TrainAbortError, loadDataset, train } from 'densenet-sdk';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const describe = (err) => ({ name: err?.name, code: err?.code, isAbortError: err instanceof AbortError, isDenseNetError: err instanceof DenseNetError });
const model = DenseNet.create('densenet121', { seed: 1 });
const shape = [8, 3, 224, 224];
const x = new Float32Array(8 * 3 * 224 * 224);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.01);
let t0 = performance.now();
const reference = await model.predict(x, shape);
const fullMs = performance.now() - t0;
const ac = new AbortController();
t0 = performance.now();
const running = model.predict(x, shape, { signal: ac.signal });
setTimeout(() => ac.abort(), Math.min(20, fullMs / 8));
let predictError;
try { await running; } catch (err) { predictError = err; }
const rejectedMs = performance.now() - t0;
const again = await model.predict(x, shape);
const sameLogits = again.logits.every((v, i) => v === reference.logits[i]);
await model.dispose();

const full = await loadDataset('mnist');
const trainSet = new SubsetDataset(full, Int32Array.from({ length: 96 }, (_, i) => i));
const tiny = DenseNet.create(${JSON.stringify({ ...TINY, inChannels: 1 })}, { seed: 1 });
const outDir = mkdtempSync(join(tmpdir(), 'densenet-abort-'));
const tac = new AbortController();
let trainError;
try {
  await train(tiny, { trainSet, outDir, epochs: 2, batchSize: 16, validationSize: 0, signal: tac.signal, onBatch: (e) => { if (e.batch === 2) tac.abort(); } });
} catch (err) { trainError = err; }
console.log(JSON.stringify({
  fullMs, rejectedMs, sameLogits, predict: describe(predictError),
  train: { ...describe(trainError), isTrainAbortError: trainError instanceof TrainAbortError, checkpointExists: !!trainError?.checkpoint && existsSync(trainError.checkpoint), position: trainError?.position },
}));
`;

const MISSING_PLATFORM_CONSUMER = `import { DenseNet, NativeLoadError } from 'densenet-sdk';
try {
  DenseNet.create('densenet121');
  console.log(JSON.stringify({ loaded: true }));
} catch (err) {
  console.log(JSON.stringify({ loaded: false, isNativeLoadError: err instanceof NativeLoadError, code: err.code, message: err.message }));
}
`;

const CUDA_CONSUMER = `import { loadNative, NativeLoadError } from 'densenet-sdk';
try {
  loadNative({ cuda: true });
  console.log(JSON.stringify({ loaded: true }));
} catch (err) {
  console.log(JSON.stringify({ loaded: false, isNativeLoadError: err instanceof NativeLoadError, code: err.code, message: err.message }));
}
`;

// A strict TypeScript consumer: uses the types in ways that fail to compile if they are missing or `any`.
const TS_BODY = `
const config: ModelConfig = createConfig('densenet-bc-100', { numClasses: 100 });
const model: DenseNet = DenseNet.create(config, { seed: 1 });
const params: number = model.parameterCount;
export async function run(): Promise<number> {
  const out: Prediction = await model.predict(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
  const best: number = out.topK(1)[0]![0]!.index;
  const step: TrainStepResult = await model.trainStep(new Float32Array(3 * 32 * 32), [1, 3, 32, 32], Int32Array.from([best]));
  // @ts-expect-error -- parameterCount is a number, not a string
  const wrong: string = model.parameterCount;
  void wrong;
  return params + step.loss;
}
export function isSdkError(err: unknown): boolean {
  return err instanceof DenseNetError && typeof err.code === 'string';
}
`;
const TS_ESM = `import { DenseNet, DenseNetError, createConfig, type ModelConfig, type Prediction, type TrainStepResult } from 'densenet-sdk';\n${TS_BODY}`;
const TS_CJS = `import { DenseNet, DenseNetError, createConfig, type ModelConfig, type Prediction, type TrainStepResult } from 'densenet-sdk';\n${TS_BODY}`;
const TS_CONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    skipLibCheck: false,
    noUncheckedIndexedAccess: true,
    types: ['node'],
  },
  files: ['consumer.mts', 'consumer.cts'],
};

/**
 * Builds and packs both packages, creates the consumer project and installs them there.
 * @param {{ log?: (line: string) => void }} options
 * @returns the context used by the checks: { dir, app, bare, env, mainTarball, mainInfo, platformTarball, platformInfo, mainFiles, installOutput, bareOutput, cleanup }
 */
export function prepareInstall({ log = () => {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'densenet-install-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const env = userEnv(join(dir, 'bin'));

    // 1. Both packages, packed as a release packs them (scripts/pack.mjs).
    const packed = packAll({ destination: dir, stage: join(dir, 'stage'), env, log });
    const mainInfo = packed.main;
    const plat = packed.platforms[0];
    const wasmInfo = packed.wasm;

    // 2. The user's project, with both tarballs.
    const typesNode = JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')).version;
    const install = (name, args) => {
      const app = join(dir, name);
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'densenet-consumer', version: '1.0.0', private: true }, null, 2));
      const r = mustSucceed(
        `npm install (${name})`,
        exec(npmCmd, ['install', '--no-audit', '--no-fund', '--prefer-offline', ...args], { cwd: app, env, timeout: 300_000 }),
      );
      return { app, output: r.stdout + r.stderr };
    };
    log('npm install (the three tarballs, @types/node) without cargo on PATH');
    const { app, output: installOutput } = install('app', [mainInfo.tarball, plat.tarball, wasmInfo.tarball, `@types/node@${typesNode}`]);
    // A project with the WASM package and no native addon: what a macOS, Windows or musl user gets.
    log('npm install --omit=optional (the main tarball and the WASM package)');
    const { app: wasmApp } = install('app-wasm-only', ['--omit=optional', mainInfo.tarball, wasmInfo.tarball]);
    writeFileSync(join(wasmApp, 'esm-consumer.mjs'), ESM_CONSUMER);
    // 3. A project with the main package alone: the platform package left out (--omit=optional).
    log('npm install --omit=optional (the main tarball alone)');
    const { app: bare, output: bareOutput } = install('app-without-platform', ['--omit=optional', mainInfo.tarball]);
    writeFileSync(join(bare, 'missing-platform.mjs'), MISSING_PLATFORM_CONSUMER);
    writeFileSync(join(app, 'esm-consumer.mjs'), ESM_CONSUMER);
    writeFileSync(join(app, 'cjs-consumer.cjs'), CJS_CONSUMER);
    writeFileSync(join(app, 'cuda-consumer.mjs'), CUDA_CONSUMER);
    writeFileSync(join(app, 'abort-consumer.mjs'), ABORT_CONSUMER);
    writeFileSync(join(app, 'consumer.mts'), TS_ESM);
    writeFileSync(join(app, 'consumer.cts'), TS_CJS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TS_CONFIG, null, 2));
    return {
      dir,
      app,
      bare,
      wasmApp,
      wasmInfo,
      env,
      mainTarball: mainInfo.tarball,
      mainInfo,
      platformTarball: plat.tarball,
      platformInfo: plat,
      mainFiles: mainInfo.files,
      installOutput,
      bareOutput,
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** The checks, each `(ctx) => void`, throwing on failure. */
export const checks = {
  'the user environment has no cargo or rustc'(ctx) {
    for (const tool of ['cargo', 'rustc']) {
      const r = spawnSync(tool, ['--version'], { env: ctx.env, encoding: 'utf8' });
      const hidden = (r.error && r.error.code === 'ENOENT') || (r.status === 127 && /hidden by the install test/.test(r.stderr));
      assert(hidden, `${tool} is still reachable on the test PATH`);
    }
  },

  'the published tarball holds only dist/, assets/, README.md, LICENSE, package.json'(ctx) {
    const bad = ctx.mainFiles.filter((f) => !isAllowedPackageFile(f));
    assert(bad.length === 0, `unexpected files in the tarball: ${bad.join(', ')}`);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'assets/mnist-10k.bin.gz', 'dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'dist/cli/main.js']) {
      assert(ctx.mainFiles.includes(f), `${f} is missing from the tarball`);
    }
  },

  'the README quotes the sizes npm pack prints for the main package'(ctx) {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `densenet-sdk` |'));
    assert(row, 'the README has no Packaging row for densenet-sdk');
    const cells = row.split('|').map((c) => c.trim());
    const packedSize = formatBytesLikeNpm(ctx.mainInfo.size);
    const unpacked = formatBytesLikeNpm(ctx.mainInfo.unpackedSize);
    assert(cells[3] === packedSize && cells[4] === unpacked, `README says ${cells[3]} / ${cells[4]}, npm pack prints ${packedSize} / ${unpacked}`);
  },

  'npm pack --dry-run of the repository excludes sources, tests, fixtures and native builds'() {
    const r = mustSucceed('npm pack --dry-run', exec(npmCmd, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env: userEnv(join(tmpdir(), 'densenet-shim')) }));
    const files = JSON.parse(r.stdout)[0].files.map((f) => f.path);
    const bad = files.filter((f) => !isAllowedPackageFile(f));
    assert(bad.length === 0, `npm pack would publish: ${bad.join(', ')}`);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'assets/mnist-10k.bin.gz']) assert(files.includes(f), `${f} would not be published`);
  },

  'the platform tarball holds the addon and is pinned by optionalDependencies'(ctx) {
    const files = ctx.platformInfo.files;
    assert(files.includes('densenet.linux-x64-gnu.node') && files.includes('package.json'), `platform tarball files: ${files.join(', ')}`);
    assert(files.every((f) => ['densenet.linux-x64-gnu.node', 'package.json', 'README.md', 'LICENSE'].includes(f)), `platform tarball files: ${files.join(', ')}`);
    assert(ctx.platformInfo.name === PLATFORM_PKG, `platform package name ${ctx.platformInfo.name}`);
    const main = JSON.parse(readFileSync(join(ctx.app, 'node_modules/densenet-sdk/package.json'), 'utf8'));
    const plat = JSON.parse(readFileSync(join(ctx.app, 'node_modules', PLATFORM_PKG, 'package.json'), 'utf8'));
    assert(main.optionalDependencies?.[PLATFORM_PKG] === main.version, 'optionalDependencies does not pin the platform package at the main version');
    assert(plat.version === main.version, `platform package ${plat.version} != main ${main.version}`);
    assert(!main.optionalDependencies?.[CUDA_PKG], 'the CUDA package must not be an optional dependency');
    const cuda = JSON.parse(readFileSync(join(root, 'npm/linux-x64-gnu-cuda/package.json'), 'utf8'));
    assert(cuda.version === main.version && cuda.name === CUDA_PKG, 'CUDA package name/version');
    for (const p of [plat, cuda]) {
      assert(JSON.stringify([p.os, p.cpu, p.libc]) === JSON.stringify([['linux'], ['x64'], ['glibc']]), `${p.name}: os/cpu/libc`);
      assert(p.publishConfig?.access === 'public', `${p.name}: a scoped package is published with access public`);
      assert(p.scripts === undefined, `${p.name} has scripts`);
    }
  },

  'installing prints no install-script warning and runs no build: the installed manifest is the published one'(ctx) {
    assert(!/install[- ]scripts?/i.test(ctx.installOutput), `npm warned about install scripts:\n${ctx.installOutput}`);
    const main = JSON.parse(readFileSync(join(ctx.app, 'node_modules/densenet-sdk/package.json'), 'utf8'));
    for (const key of ['scripts', 'workspaces', 'devDependencies', 'private', 'ava', 'napi']) {
      assert(main[key] === undefined, `the published package.json has "${key}": ${JSON.stringify(main[key])}`);
    }
    const repo = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const expected = publishedManifest(repo);
    for (const [k, v] of Object.entries(expected)) assert(JSON.stringify(main[k]) === JSON.stringify(v), `published ${k} differs from the repository's`);
    assert(repo.private === true, 'the repository manifest is private (npm publish there refuses; publish the packed tarball)');
    const installed = readdirSync(join(ctx.app, 'node_modules/densenet-sdk')).sort();
    assert(
      JSON.stringify(installed) === JSON.stringify(['LICENSE', 'README.md', 'assets', 'dist', 'package.json']),
      `installed package contents: ${installed.join(', ')}`,
    );
    assert(!/napi build|cargo build|Compiling densenet/.test(ctx.installOutput), `install ran a build:\n${ctx.installOutput}`);
  },

  'without the platform package the first call and the CLI fail naming `npm install @densenet-sdk/linux-x64-gnu@<version>`'(ctx) {
    assert(!existsSync(join(ctx.bare, 'node_modules', PLATFORM_PKG)), 'the platform package was installed after all');
    assert(!/install[- ]scripts?/i.test(ctx.bareOutput), `npm warned about install scripts:\n${ctx.bareOutput}`);
    const fix = `npm install ${PLATFORM_PKG}@${VERSION}`;
    const r = mustSucceed('missing-platform consumer', exec(process.execPath, ['missing-platform.mjs'], { cwd: ctx.bare, env: ctx.env }));
    const out = lastJson(r);
    assert(out.loaded === false && out.isNativeLoadError && out.code === 'ERR_NATIVE_LOAD', r.stdout);
    assert(out.message.includes(fix), `the error does not name "${fix}":\n${out.message}`);
    assert(out.message.includes(`${PLATFORM_PKG}: package is not installed`), out.message);
    assert(!/build:native|scripts\//.test(out.message), `the error points at the repository:\n${out.message}`);
    const cli = exec(npxCmd, ['--no', 'densenet', 'info', 'densenet121'], { cwd: ctx.bare, env: ctx.env });
    assert(cli.code === 1, `npx densenet info exited ${cli.code}:\n${cli.stdout}${cli.stderr}`);
    assert(cli.stderr.includes(fix) && /\[ERR_NATIVE_LOAD\]/.test(cli.stderr), `densenet's error does not name the fix:\n${cli.stderr}`);
  },

  'an abort of a running predict rejects at once with the AbortError; train rejects with it after its checkpoint'(ctx) {
    const r = mustSucceed('abort consumer', exec(process.execPath, ['abort-consumer.mjs'], { cwd: ctx.app, env: ctx.env }));
    const out = lastJson(r);
    const abort = { name: 'AbortError', code: 'ABORT_ERR', isAbortError: true, isDenseNetError: true };
    for (const [k, v] of Object.entries(abort)) {
      assert(out.predict[k] === v, `predict: ${k} = ${JSON.stringify(out.predict[k])}, expected ${JSON.stringify(v)}`);
      assert(out.train[k] === v, `train: ${k} = ${JSON.stringify(out.train[k])}, expected ${JSON.stringify(v)}`);
    }
    assert(out.rejectedMs < out.fullMs / 2, `the aborted predict rejected after ${out.rejectedMs} ms; a full one takes ${out.fullMs} ms`);
    assert(out.sameLogits, 'the model gives other logits after the abort');
    assert(out.train.isTrainAbortError && out.train.checkpointExists, `train: ${JSON.stringify(out.train)}`);
    assert(JSON.stringify(out.train.position) === JSON.stringify({ epoch: 0, batch: 2 }), `train stopped at ${JSON.stringify(out.train.position)}`);
  },

  'npx densenet info densenet121'(ctx) {
    const r = mustSucceed('npx densenet info densenet121', exec(npxCmd, ['--no', 'densenet', 'info', 'densenet121'], { cwd: ctx.app, env: ctx.env }));
    assert(/Dense Block \(4\)/.test(r.stdout) && /7,978,856/.test(r.stdout), `unexpected output:\n${r.stdout}`);
    const j = mustSucceed('npx densenet info --json', exec(npxCmd, ['--no', 'densenet', 'info', 'densenet-bc-100', '--json'], { cwd: ctx.app, env: ctx.env }));
    assert(JSON.parse(j.stdout).parameters === 769162, `--json: ${j.stdout}`);
  },

  'ESM consumer (import): model, parameterCount, predict, trainStep, MNIST'(ctx) {
    checkConsumer(ctx, 'esm-consumer.mjs', 'esm');
  },

  'CommonJS consumer (require): model, parameterCount, predict, trainStep, MNIST'(ctx) {
    checkConsumer(ctx, 'cjs-consumer.cjs', 'cjs');
  },

  'the WASM package alone (no native addon installed): the consumer runs on it, and the CLI trains and evaluates'(ctx) {
    assert(!existsSync(join(ctx.wasmApp, 'node_modules', PLATFORM_PKG)), 'the platform package was installed after all');
    const files = ctx.wasmInfo.files;
    for (const f of ['index.cjs', 'browser.mjs', 'node/densenet_wasm.js', 'web/densenet_wasm.js', 'web/densenet_wasm_bg.wasm']) assert(files.includes(f), `${f} is missing from ${WASM_PACKAGE}`);
    const main = JSON.parse(readFileSync(join(ctx.wasmApp, 'node_modules/densenet-sdk/package.json'), 'utf8'));
    assert(main.optionalDependencies?.[WASM_PACKAGE] === main.version, `optionalDependencies does not pin ${WASM_PACKAGE} at the main version`);
    const r = mustSucceed('esm-consumer.mjs (WASM)', exec(process.execPath, ['esm-consumer.mjs'], { cwd: ctx.wasmApp, env: ctx.env }));
    const out = lastJson(r);
    assert(out.backend === 'wasm' && out.nativeSource === WASM_PACKAGE, `loaded ${out.backend} from ${out.nativeSource}`);
    assert(out.parameterCount === 769162 && out.logitsFinite && out.step === 2 && out.losses.every((l) => Number.isFinite(l) && l > 0), JSON.stringify(out));
    const info = mustSucceed('npx densenet info (WASM)', exec(npxCmd, ['--no', 'densenet', 'info', 'densenet-bc-100', '--json'], { cwd: ctx.wasmApp, env: ctx.env }));
    assert(JSON.parse(info.stdout).parameters === 769162, info.stdout);
    const train = mustSucceed(
      'npx densenet train (WASM)',
      exec(npxCmd, ['--no', 'densenet', 'train', '--epochs', '1', '--limit', '256', '--out', 'run', '--json'], { cwd: ctx.wasmApp, env: ctx.env }),
    );
    assert(existsSync(join(ctx.wasmApp, 'run', 'best.safetensors')) && existsSync(join(ctx.wasmApp, 'run', 'results.csv')), `no model written:\n${train.stdout}`);
    const ev = mustSucceed('npx densenet eval (WASM)', exec(npxCmd, ['--no', 'densenet', 'eval', '--model', 'run/best.safetensors', '--limit', '128', '--json'], { cwd: ctx.wasmApp, env: ctx.env }));
    const e = lastJson(ev);
    assert(e.images === 128 && e.singleCrop.top1Error < 0.9, `eval: ${ev.stdout}`);
  },

  'a CUDA request fails with NativeLoadError naming the uninstalled CUDA package'(ctx) {
    const r = mustSucceed('cuda consumer', exec(process.execPath, ['cuda-consumer.mjs'], { cwd: ctx.app, env: ctx.env }));
    const out = lastJson(r);
    assert(out.loaded === false && out.isNativeLoadError && out.code === 'ERR_NATIVE_LOAD', r.stdout);
    assert(out.message.includes(`${CUDA_PKG}: package is not installed`), out.message);
    assert(out.message.includes(`npm install ${CUDA_PKG}@${VERSION}`), out.message);
  },

  'a strict TypeScript consumer (.mts and .cts) compiles against the published types'(ctx) {
    const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
    const r = exec(process.execPath, [tsc, '-p', join(ctx.app, 'tsconfig.json')], { cwd: ctx.app, env: ctx.env });
    assert(r.code === 0, `tsc --noEmit failed:\n${r.stdout}${r.stderr}`);
  },
};

function checkConsumer(ctx, file, format) {
  const r = mustSucceed(file, exec(process.execPath, [file], { cwd: ctx.app, env: ctx.env }));
  const out = lastJson(r);
  assert(out.format === format, `format ${out.format}`);
  assert(out.parameterCount === 769162, `parameterCount ${out.parameterCount}`);
  assert(out.tinyParams > 0, 'tiny model has no parameters');
  assert(JSON.stringify(out.predictShape) === '[4,10]' && out.logitsFinite && out.top3 === 3, `prediction ${JSON.stringify(out)}`);
  assert(out.losses.every((l) => Number.isFinite(l) && l > 0) && out.step === 2, `training ${JSON.stringify(out)}`);
  assert(out.mnist === 10000, `embedded MNIST has ${out.mnist} digits`);
  assert(out.nativeSource === PLATFORM_PKG, `addon loaded from ${out.nativeSource}, not the platform package`);
  assert(out.errorsAreClasses, 'error classes');
}

async function main() {
  const start = Date.now();
  let ctx;
  let n = 0;
  let failed = 0;
  const names = Object.keys(checks);
  console.log('TAP version 13');
  console.log(`1..${names.length + 1}`);
  try {
    ctx = prepareInstall({ log: (l) => console.log(`# ${l}`) });
    console.log(`ok ${++n} - pack both packages and npm install them into an empty project`);
  } catch (err) {
    console.log(`not ok ${++n} - pack both packages and npm install them into an empty project`);
    console.log(String(err instanceof Error ? err.message : err).replace(/^/gm, '# '));
    failed = names.length + 1;
    for (const name of names) console.log(`not ok ${++n} - ${name} # prerequisite failed`);
  }
  if (ctx) {
    try {
      for (const name of names) {
        try {
          checks[name](ctx);
          console.log(`ok ${++n} - ${name}`);
        } catch (err) {
          failed++;
          console.log(`not ok ${++n} - ${name}`);
          console.log(String(err instanceof Error ? err.message : err).replace(/^/gm, '# '));
        }
      }
    } finally {
      if (process.env.DENSENET_KEEP_INSTALL_TEST) console.log(`# kept ${ctx.dir}`);
      else ctx.cleanup();
    }
  }
  console.log(`# ${n - failed} passed, ${failed} failed in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  process.exitCode = failed ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
