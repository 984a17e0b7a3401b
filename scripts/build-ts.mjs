#!/usr/bin/env node
// Builds the TypeScript SDK (`npm run build:ts`):
//   dist/      ESM build (tsconfig.json): the library, its .d.ts and the CLI (dist/cli/main.js)
//   dist/cjs/  CommonJS build (tsconfig.cjs.json): the library and its .d.ts, with
//              dist/cjs/package.json = {"type": "commonjs"} so Node and TypeScript read it as CJS
// The output directory is emptied first so that no file of a deleted module survives.
//
// Usage: node scripts/build-ts.mjs [--out DIR]   (default DIR = dist; the install test builds
// into a temporary directory so that it never rewrites dist/ under running tests)
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const out = resolve(root, outIdx >= 0 ? args[outIdx + 1] : 'dist');
if (outIdx >= 0 && !args[outIdx + 1]) {
  console.error('build-ts: --out needs a directory');
  process.exit(2);
}

const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

function run(project, outDir) {
  const res = spawnSync(process.execPath, [tsc, '-p', join(root, project), '--outDir', outDir], {
    cwd: root,
    stdio: 'inherit',
  });
  if (res.status !== 0) {
    console.error(`build-ts: tsc -p ${project} failed (exit ${res.status ?? res.signal})`);
    process.exit(1);
  }
}

rmSync(out, { recursive: true, force: true });
run('tsconfig.json', out);
run('tsconfig.cjs.json', join(out, 'cjs'));
mkdirSync(join(out, 'cjs'), { recursive: true });
writeFileSync(join(out, 'cjs', 'package.json'), '{\n  "type": "commonjs"\n}\n');
chmodSync(join(out, 'cli', 'main.js'), 0o755);
console.log(`build-ts: wrote ${out} (ESM) and ${join(out, 'cjs')} (CommonJS)`);
