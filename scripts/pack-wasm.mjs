#!/usr/bin/env node
// Packs the WASM package @densenet-sdk/wasm32 (npm/wasm32: the Node shim index.cjs, the browser
// entry browser.mjs and the wasm-bindgen output in node/ and web/, built by `npm run build:wasm`).
// It has no os/cpu limits: an optional dependency of densenet-sdk installed everywhere, the
// fallback where no native addon loads and the build browsers use.
//
//   node scripts/pack-wasm.mjs [--pack-destination DIR] [--json]   (default DIR: npm/wasm32)
//
// It refuses when the build output is missing, or when the version differs from the main
// package's or from the pin in its optionalDependencies.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { npmPack, root } from './pack-platform.mjs';

/** The WASM package's name. */
export const WASM_PACKAGE = '@densenet-sdk/wasm32';

/**
 * Checks and packs npm/wasm32.
 * @param {{ destination?: string, env?: NodeJS.ProcessEnv }} options
 */
export function packWasm(options = {}) {
  const pkgDir = join(root, 'npm', 'wasm32');
  const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  if (pkg.name !== WASM_PACKAGE) throw new Error(`${pkgDir}/package.json: name must be ${WASM_PACKAGE}, is ${pkg.name}`);
  if (pkg.version !== main.version) throw new Error(`${pkg.name} has version ${pkg.version} but densenet-sdk has ${main.version}; keep them equal`);
  const pin = main.optionalDependencies?.[pkg.name];
  if (pin !== main.version) throw new Error(`package.json optionalDependencies must pin ${pkg.name} at ${main.version} (found ${pin ?? 'none'})`);
  for (const key of ['scripts', 'dependencies', 'devDependencies', 'os', 'cpu', 'libc']) {
    if (pkg[key] !== undefined) throw new Error(`${pkgDir}/package.json: the WASM package has no ${key}`);
  }
  const missing = pkg.files.filter((f) => !existsSync(join(pkgDir, f)));
  if (missing.length > 0) throw new Error(`${pkg.name}: ${missing.join(', ')} missing in ${pkgDir}; run \`npm run build:wasm\` first`);
  copyFileSync(join(root, 'LICENSE'), join(pkgDir, 'LICENSE'));
  return npmPack(pkgDir, resolve(options.destination ?? pkgDir), options.env);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const destIdx = args.indexOf('--pack-destination');
  try {
    const r = packWasm({ destination: destIdx >= 0 ? args[destIdx + 1] : undefined });
    console.log(`${r.tarball}: package size ${r.npm.packageSize}, unpacked size ${r.npm.unpackedSize}, files: ${r.files.join(', ')}`);
    if (args.includes('--json')) console.log(JSON.stringify(r));
  } catch (err) {
    console.error(`pack:wasm: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
