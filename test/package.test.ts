/**
 * Packaging: the install test (scripts/install-test.mjs) packs the main, the platform and the WASM
 * package as a release does (scripts/pack.mjs), installs them into an empty project without cargo/rustc on
 * PATH, and runs the CLI, an ESM and a CommonJS consumer (model, parameterCount, predict,
 * trainStep), an abort of a running predict and train, a strict TypeScript consumer and the tarball
 * and install-output checks there; and installs the main package alone to check the error that
 * names the missing platform package. It runs once, in a child process (it takes about a minute);
 * each of its checks is reported here as its own test.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { checks } from '../scripts/install-test.mjs';
import { PUBLISHED_FIELDS, publishedManifest } from '../scripts/pack.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SETUP = 'pack both packages and npm install them into an empty project';

interface Outcome {
  ok: boolean;
  details: string[];
}

let results: Promise<{ outcomes: Map<string, Outcome>; output: string; code: number | null }> | undefined;

function runInstallTest(): Promise<{ outcomes: Map<string, Outcome>; output: string; code: number | null }> {
  results ??= new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'scripts/install-test.mjs')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.on('close', (code) => {
      const outcomes = new Map<string, Outcome>();
      let last: Outcome | undefined;
      for (const line of output.split('\n')) {
        const m = /^(not ok|ok) \d+ - (.*?)(?: # prerequisite failed)?$/.exec(line);
        if (m) {
          last = { ok: m[1] === 'ok', details: [] };
          outcomes.set(m[2]!, last);
        } else if (line.startsWith('# ') && last && !last.ok) {
          last.details.push(line.slice(2));
        }
      }
      resolve({ outcomes, output, code });
    });
  });
  return results;
}

for (const name of [SETUP, ...Object.keys(checks)]) {
  test(`install test: ${name}`, async (t) => {
    const { outcomes, output } = await runInstallTest();
    const o = outcomes.get(name);
    if (!o) {
      t.fail(`the install test did not report "${name}":\n${output}`);
      return;
    }
    t.true(o.ok, o.details.join('\n'));
  });
}

test('package.json: exports, files, scoped platform packages and scripts', (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  t.deepEqual(pkg.exports['.'], {
    import: { types: './dist/index.d.ts', default: './dist/index.js' },
    require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
  });
  t.is(pkg.exports['./package.json'], './package.json');
  t.deepEqual(pkg.files, ['dist/', '!dist/**/*.map', 'assets/']);
  t.deepEqual(pkg.optionalDependencies, { '@densenet-sdk/linux-x64-gnu': pkg.version, '@densenet-sdk/wasm32': pkg.version });
  for (const s of ['preinstall', 'install', 'postinstall']) t.false(s in pkg.scripts, s);
  t.true(pkg.private, 'the repository manifest is private: releases publish the packed tarballs');
  t.is(pkg.scripts['pack:tarballs'], 'node scripts/pack.mjs');
  for (const dir of ['linux-x64-gnu', 'linux-x64-gnu-cuda', 'linux-x64-gnu-mpi']) {
    const p = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'));
    t.is(p.name, `@densenet-sdk/${dir}`);
    t.is(p.version, pkg.version, `${p.name} version`);
    t.is(p.main, `densenet.${dir}.node`);
    // The CUDA addon carries the glibc its build needs (scripts/glibc-needs.mjs), which the loader checks.
    t.deepEqual(p.files, dir.endsWith('-cuda') ? [`densenet.${dir}.node`, `densenet.${dir}.glibc.json`] : [`densenet.${dir}.node`]);
    t.deepEqual([p.os, p.cpu, p.libc], [['linux'], ['x64'], ['glibc']]);
    t.deepEqual(p.publishConfig, { access: 'public' });
    t.is(p.scripts, undefined);
  }
});

test('the published manifest keeps what a user needs and drops scripts, workspaces, devDependencies and tool settings', (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const published = publishedManifest(pkg);
  for (const key of ['scripts', 'workspaces', 'devDependencies', 'private', 'ava', 'napi']) t.false(key in published, key);
  for (const key of ['name', 'version', 'type', 'main', 'types', 'exports', 'files', 'bin', 'engines', 'dependencies', 'optionalDependencies']) {
    t.deepEqual(published[key], pkg[key], key);
  }
  t.true(Object.keys(published).every((k) => PUBLISHED_FIELDS.includes(k)));
  // Field order follows PUBLISHED_FIELDS, whatever the repository's order.
  t.deepEqual(Object.keys(publishedManifest({ version: '1', name: 'x', scripts: { prepare: 'x' } })), ['name', 'version']);
});
