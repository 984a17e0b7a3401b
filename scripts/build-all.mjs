#!/usr/bin/env node
// `npm run build` (and so `npm install` in a checkout, through `prepare`): builds every variant
// in turn and prints one line per variant with what it built and how long it took:
//
//   build: native  built native/densenet.linux-x64-gnu.node in 2m 31s
//   build: mpi     SKIPPED after 4s: install-mpi: ... (the MPI variant's tests will fail)
//
// The default native addon and the TypeScript are required: their failure fails the install.
// The MPI, CUDA and WASM variants are optional for an install: when one cannot be built (what it
// needs cannot be installed here, say), the install still succeeds and its line says SKIPPED and
// why; `npm test` then fails that variant's tests (scripts/run-tests.mjs checks every variant's
// artifact and prints the reason from the report), it never skips them.
//
// The report is also written to target/build-report.json for `npm test`.
// Usage: node scripts/build-all.mjs [--only native,ts]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { VARIANTS } from './variants.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const onlyIdx = process.argv.indexOf('--only');
const only = onlyIdx >= 0 ? new Set((process.argv[onlyIdx + 1] ?? '').split(',')) : null;

/** m:ss-style duration. */
function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** Runs `npm run <script>`, streaming its output, keeping the last stderr lines for the report. */
function runScript(script) {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', script], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      tail = (tail + chunk).slice(-4000);
    });
    child.on('error', (error) => resolve({ code: null, tail: error.message }));
    child.on('close', (code, signal) => resolve({ code: signal ? `signal ${signal}` : code, tail }));
  });
}

/** The line of a failed build's output that says why: the last one naming a failure, else the last. */
function reasonOf(tail) {
  const lines = tail.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = lines.filter((l) => /error|fail|missing|cannot|could not|not found|unable/i.test(l) && !/^npm (error|ERR)/.test(l));
  return (telling.at(-1) ?? lines.at(-1) ?? 'no output').slice(0, 300);
}

const report = { startedAt: new Date().toISOString(), variants: {} };
const lines = [];
let failedRequired = false;
const width = Math.max(...VARIANTS.map((v) => v.name.length));
for (const variant of VARIANTS) {
  if (only && !only.has(variant.name)) continue;
  console.error(`\n=== build: ${variant.name} (npm run ${variant.script}) ===`);
  const t0 = Date.now();
  const res = await runScript(variant.script);
  const ms = Date.now() - t0;
  const took = formatDuration(ms);
  const artifact = variant.artifact ? join(root, variant.artifact) : null;
  const ok = res.code === 0 && (!artifact || existsSync(artifact));
  let line;
  if (ok) {
    line = `build: ${variant.name.padEnd(width)}  built ${variant.describe} in ${took}`;
    report.variants[variant.name] = { status: 'built', ms };
  } else {
    const reason = res.code === 0 ? `exited 0 but ${variant.artifact} is missing` : reasonOf(res.tail);
    report.variants[variant.name] = { status: variant.required ? 'failed' : 'skipped', ms, reason };
    if (variant.required) {
      failedRequired = true;
      line = `build: ${variant.name.padEnd(width)}  FAILED after ${took}: ${reason}`;
    } else {
      line = `build: ${variant.name.padEnd(width)}  SKIPPED after ${took}: ${reason} (npm test fails its tests)`;
    }
  }
  lines.push(line);
  console.error(line);
}
mkdirSync(join(root, 'target'), { recursive: true });
writeFileSync(join(root, 'target', 'build-report.json'), `${JSON.stringify(report, null, 2)}\n`);
// The summary once more at the end, where a new contributor looks.
console.error(`\n=== build summary ===\n${lines.join('\n')}`);
process.exitCode = failedRequired ? 1 : 0;
