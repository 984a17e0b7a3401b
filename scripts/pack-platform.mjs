#!/usr/bin/env node
// Packs the per-platform npm package of the native addon (the pattern of napi-rs and sharp: one
// scoped package per platform, @densenet-sdk/<triple>, an optional dependency of densenet-sdk
// that npm installs only where its os/cpu/libc match): copies native/densenet.<triple>.node (built
// by `npm run build:native`) and LICENSE into npm/<triple>/ and runs `npm pack` there.
// (`npm run pack:tarballs`, scripts/pack.mjs, packs it together with the main package.)
//
//   npm run pack:platform                          -> npm/linux-x64-gnu/densenet-sdk-linux-x64-gnu-<v>.tgz
//   npm run pack:platform -- --pack-destination D  -> the tarball goes to D
//   npm run pack:platform -- --cuda                -> npm/linux-x64-gnu-cuda (needs `npm run build:cuda` first)
//   npm run pack:platform -- --mpi                 -> npm/linux-x64-gnu-mpi (the MPI variant, npm run build:native:mpi)
//   npm run pack:platform -- --json                -> last line: {"name","version","tarball","size","unpackedSize","npm","files"}
//
// It refuses when the addon is missing, or when the platform package's version differs from
// the main package's (or, for the CPU package, from the pin in its optionalDependencies).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A size as `npm pack` prints it (`npm notice package size: 1.0 MB`): npm's formatBytes, decimal
 * units with one decimal.
 * @param {number} bytes
 */
export function formatBytesLikeNpm(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

/** The platform triples that have a package directory under npm/. */
export const TRIPLES = ['linux-x64-gnu'];

/** The npm scope of the platform packages. */
export const PLATFORM_SCOPE = '@densenet-sdk';

/**
 * The name of a platform package: `@densenet-sdk/<triple>` or `@densenet-sdk/<triple>-cuda`.
 * @param {string} triple
 * @param {boolean} [cuda]
 */
export function platformPackageName(triple, cuda = false, mpi = false) {
  return `${PLATFORM_SCOPE}/${triple}${cuda ? '-cuda' : ''}${mpi ? '-mpi' : ''}`;
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * Copies the addon into npm/<triple>[-cuda]/ and packs it.
 * @param {{ triple?: string, cuda?: boolean, mpi?: boolean, destination?: string, env?: NodeJS.ProcessEnv }} options
 * @returns {{ name: string, version: string, tarball: string, size: number, unpackedSize: number, npm: { packageSize: string | null, unpackedSize: string | null }, files: string[] }}
 */
export function packPlatform(options = {}) {
  const triple = options.triple ?? 'linux-x64-gnu';
  if (!TRIPLES.includes(triple)) throw new Error(`no platform package for ${triple} (known: ${TRIPLES.join(', ')})`);
  const suffix = options.cuda ? `${triple}-cuda` : options.mpi ? `${triple}-mpi` : triple;
  const pkgDir = join(root, 'npm', suffix);
  const main = readJson(join(root, 'package.json'));
  const plat = readJson(join(pkgDir, 'package.json'));

  const expected = platformPackageName(triple, !!options.cuda, !!options.mpi);
  if (plat.name !== expected) throw new Error(`${pkgDir}/package.json: name must be ${expected}, is ${plat.name}`);
  for (const key of ['scripts', 'dependencies', 'devDependencies']) {
    if (plat[key] !== undefined) throw new Error(`${pkgDir}/package.json: a platform package has no ${key}`);
  }
  if (plat.version !== main.version) {
    throw new Error(`${plat.name} has version ${plat.version} but densenet-sdk has ${main.version}; keep them equal`);
  }
  if (!options.cuda && !options.mpi) {
    const pin = main.optionalDependencies?.[plat.name];
    if (pin !== main.version) {
      throw new Error(`package.json optionalDependencies must pin ${plat.name} at ${main.version} (found ${pin ?? 'none'})`);
    }
  }

  const addonName = `densenet.${suffix}.node`;
  if (plat.main !== addonName) throw new Error(`${plat.name}: main must be ${addonName}, is ${plat.main}`);
  const source = join(root, 'native', addonName);
  if (!existsSync(source)) {
    throw new Error(
      options.cuda
        ? `${source} does not exist; run \`npm run build:cuda\` (scripts/build-cuda.sh) first`
        : `${source} does not exist; run \`npm run build:native${options.mpi ? ':mpi' : ''}\` first`,
    );
  }

  // Copy next to the package.json (via a temporary name, so a reader never sees half a file).
  const target = join(pkgDir, addonName);
  copyFileSync(source, `${target}.tmp`);
  renameSync(`${target}.tmp`, target);
  // The glibc the addon needs (scripts/glibc-needs.mjs; the CUDA build records it), for the loader.
  const glibcRecord = `densenet.${suffix}.glibc.json`;
  if (existsSync(join(root, 'native', glibcRecord))) copyFileSync(join(root, 'native', glibcRecord), join(pkgDir, glibcRecord));
  copyFileSync(join(root, 'LICENSE'), join(pkgDir, 'LICENSE'));

  return npmPack(pkgDir, resolve(options.destination ?? pkgDir), options.env);
}

/**
 * `npm pack` of one package directory into `destination`, with the tarball's facts.
 * @param {string} pkgDir
 * @param {string} destination
 * @param {NodeJS.ProcessEnv} [env]
 */
export function npmPack(pkgDir, destination, env = process.env) {
  mkdirSync(destination, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', destination], {
    cwd: pkgDir,
    encoding: 'utf8',
    env,
  });
  if (res.status !== 0) throw new Error(`npm pack in ${pkgDir} failed:\n${res.stderr || res.stdout}`);
  const [info] = JSON.parse(res.stdout);
  const tarball = join(destination, info.filename);
  return {
    name: info.name,
    version: info.version,
    tarball,
    size: statSync(tarball).size,
    unpackedSize: info.unpackedSize,
    npm: { packageSize: formatBytesLikeNpm(statSync(tarball).size), unpackedSize: formatBytesLikeNpm(info.unpackedSize) },
    files: info.files.map((f) => f.path).sort(),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const destIdx = args.indexOf('--pack-destination');
  try {
    const result = packPlatform({
      cuda: args.includes('--cuda'),
      mpi: args.includes('--mpi'),
      destination: destIdx >= 0 ? args[destIdx + 1] : undefined,
    });
    console.log(
      `${result.tarball}: package size ${result.npm.packageSize}, unpacked size ${result.npm.unpackedSize} (as npm pack prints them; ` +
        `${result.size} bytes packed, ${result.unpackedSize} unpacked), files: ${result.files.join(', ')}`,
    );
    if (args.includes('--json')) console.log(JSON.stringify(result));
  } catch (err) {
    console.error(`pack:platform: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
