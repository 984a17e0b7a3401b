#!/usr/bin/env node
// Packs the packages a user installs (`npm run pack:tarballs`):
//
//   densenet-sdk-<v>.tgz                  the main package, from a staging copy: a fresh TypeScript
//                                         build (ESM + CJS), README, LICENSE, assets/ and the
//                                         *published* package.json (see publishedManifest: no
//                                         lifecycle scripts, no workspaces, no devDependencies, no
//                                         tool settings, not private);
//   densenet-sdk-linux-x64-gnu-<v>.tgz    the platform package @densenet-sdk/linux-x64-gnu with the
//                                         addon from native/ (scripts/pack-platform.mjs);
//   densenet-sdk-wasm32-<v>.tgz           the WASM package @densenet-sdk/wasm32 from npm/wasm32
//                                         (scripts/pack-wasm.mjs).
//
// The repository's package.json is the development manifest (`private: true`, so that `npm publish`
// in the repository root refuses); publish the tarballs: `npm publish packs/<file>.tgz`.
//
//   node scripts/pack.mjs [--pack-destination DIR] [--json]   (default DIR: packs/)
//
// With --json the last line is {"main": {...}, "platforms": [{...}]} with each tarball's name,
// version, path, size, unpackedSize and files.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { formatBytesLikeNpm, packPlatform } from './pack-platform.mjs';
import { packWasm } from './pack-wasm.mjs';

export { formatBytesLikeNpm };

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The package.json fields a published densenet-sdk keeps; every other field (scripts, workspaces,
 * devDependencies, private, tool settings such as `ava` and `napi`) stays in the repository.
 */
export const PUBLISHED_FIELDS = [
  'name',
  'version',
  'description',
  'license',
  'author',
  'contributors',
  'repository',
  'homepage',
  'bugs',
  'keywords',
  'type',
  'main',
  'types',
  'exports',
  'files',
  'bin',
  'engines',
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
];

/**
 * The manifest that goes into the published tarball: the repository's package.json reduced to
 * {@link PUBLISHED_FIELDS}, in that order.
 * @param {Record<string, unknown>} pkg - the repository's package.json
 */
export function publishedManifest(pkg) {
  const out = {};
  for (const key of PUBLISHED_FIELDS) if (pkg[key] !== undefined) out[key] = pkg[key];
  return out;
}

/** Runs a command; throws with its output when it fails. */
function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`.trim());
  return r;
}

/**
 * Stages the main package in `stage` (a fresh TypeScript build into stage/dist, README, LICENSE,
 * assets/, the published package.json) and packs it with `npm pack`.
 * @param {{ destination: string, stage?: string, env?: NodeJS.ProcessEnv, log?: (line: string) => void }} options
 * @returns {{ name: string, version: string, tarball: string, filename: string, size: number, unpackedSize: number, files: string[], manifest: Record<string, unknown> }}
 */
export function packMain({ destination, stage, env = process.env, log = () => {} }) {
  const ownStage = stage === undefined;
  const dir = stage ?? mkdtempSync(join(tmpdir(), 'densenet-stage-'));
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const f of ['README.md', 'LICENSE', 'assets']) cpSync(join(root, f), join(dir, f), { recursive: true });
    const manifest = publishedManifest(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')));
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
    log('building dist (ESM + CJS) into the staging copy');
    run(process.execPath, [join(root, 'scripts/build-ts.mjs'), '--out', join(dir, 'dist')], { cwd: root });
    mkdirSync(destination, { recursive: true });
    // --ignore-scripts: the published manifest has none anyway; this keeps a user's npm config out.
    const packed = run(npmCmd, ['pack', '--json', '--ignore-scripts', '--pack-destination', resolve(destination)], { cwd: dir, env });
    const [info] = JSON.parse(packed.stdout);
    const tarball = join(resolve(destination), info.filename);
    return {
      name: info.name,
      version: info.version,
      tarball,
      filename: info.filename,
      size: statSync(tarball).size,
      unpackedSize: info.unpackedSize,
      npm: { packageSize: formatBytesLikeNpm(statSync(tarball).size), unpackedSize: formatBytesLikeNpm(info.unpackedSize) },
      files: info.files.map((f) => f.path).sort(),
      manifest,
    };
  } finally {
    if (ownStage) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Packs the main package and the platform package(s) into `destination`.
 * @param {{ destination: string, stage?: string, env?: NodeJS.ProcessEnv, log?: (line: string) => void }} options
 */
export function packAll(options) {
  const main = packMain(options);
  options.log?.(`packed ${main.filename}: ${main.size} bytes`);
  const platform = packPlatform({ destination: options.destination, env: options.env });
  options.log?.(`packed ${platform.tarball}: ${platform.size} bytes`);
  const wasm = packWasm({ destination: options.destination, env: options.env });
  options.log?.(`packed ${wasm.tarball}: ${wasm.size} bytes`);
  return { main, platforms: [platform], wasm };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const destIdx = args.indexOf('--pack-destination');
  const destination = resolve(root, destIdx >= 0 ? args[destIdx + 1] ?? '' : 'packs');
  try {
    const result = packAll({ destination, log: (l) => console.error(`pack: ${l}`) });
    for (const p of [result.main, ...result.platforms, result.wasm]) {
      console.log(
        `${p.tarball}: package size ${p.npm.packageSize}, unpacked size ${p.npm.unpackedSize} (as npm pack prints them; ` +
          `${p.size} bytes packed, ${p.unpackedSize} unpacked), ${p.files.length} files`,
      );
    }
    console.log(`install them: npm install ${[result.main, ...result.platforms, result.wasm].map((p) => p.tarball).join(' ')}`);
    if (args.includes('--json')) console.log(JSON.stringify(result));
  } catch (err) {
    console.error(`pack: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
