#!/usr/bin/env node
// The `npm test` script: runs the Rust tests (`cargo test --release --workspace --no-fail-fast`),
// the project checks (clippy, rustfmt, the core's wasm32 build: one test each)
// and then the ava tests (`ava --tap`), streams their output, counts the passed and failed tests
// of both suites, and ends with exactly one last line `N passed, N failed` (the sums).
//
// Exit code: 0 only when both suites ran, nothing failed and at least one test passed.
// A suite that did not run, or exited non-zero without reporting a failing test (a build error,
// a crash, a timeout), counts as one failed test so that the last line never hides it.
//
// Extra arguments after `--` are passed to ava (e.g. `npm test -- --match '*preset*'`).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { VARIANTS } from './variants.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs a command, streaming stdout/stderr, and calls onLine for each stdout line.
 * @returns {Promise<{code: number|null, signal: string|null, error?: Error}>}
 */
function run(cmd, args, onLine) {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    } catch (error) {
      resolve({ code: null, signal: null, error });
      return;
    }
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
      }
    });
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => {
      if (buf) {
        process.stdout.write('\n');
        onLine(buf);
      }
      resolve({ code, signal });
    });
  });
}

/** Outcome of one suite. */
function makeSuite(name) {
  return { name, passed: 0, failed: 0, skipped: 0, ran: false, note: '' };
}

function settle(suite, res, what) {
  if (res.error) {
    suite.note = `${suite.name}: could not run ${what}: ${res.error.message}`;
    suite.failed += 1;
    return;
  }
  suite.ran = true;
  if (res.code !== 0) {
    const how = res.signal ? `was killed by ${res.signal}` : `exited with code ${res.code}`;
    if (suite.failed === 0) {
      suite.note = `${suite.name}: ${what} ${how} without reporting a failing test (build error or crash); counted as 1 failure`;
      suite.failed += 1;
    } else {
      suite.note = `${suite.name}: ${what} ${how}`;
    }
  }
}

async function cargoSuite() {
  const suite = makeSuite('cargo');
  const args = ['test', '--release', '--workspace', '--no-fail-fast'];
  console.log(`\n=== cargo ${args.join(' ')} ===`);
  const re = /^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed(?:; (\d+) ignored)?/;
  const res = await run('cargo', args, (line) => {
    const m = re.exec(line.trim());
    if (m) {
      suite.passed += Number(m[1]);
      suite.failed += Number(m[2]);
      suite.skipped += Number(m[3] ?? 0);
    }
  });
  settle(suite, res, 'cargo test');
  return suite;
}

/** Project checks that each count as one test: lint, format (workspace and densenet-wasm), and the core's wasm32 build. */
async function checkSuite() {
  const suite = makeSuite('checks');
  const checks = [
    ['cargo clippy (warnings are errors)', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings']],
    // The MPI variant of the addon is off by default (it links libmpi): lint it on its own.
    ['densenet-node --features mpi: cargo clippy (warnings are errors)', 'cargo', ['clippy', '-p', 'densenet-node', '--features', 'mpi', '--all-targets', '--', '-D', 'warnings']],
    ['cargo fmt --check', 'cargo', ['fmt', '--all', '--check']],
    ['densenet-core builds for wasm32-unknown-unknown', 'bash', ['scripts/check-wasm-core.sh']],
    // The CUDA variant never rots: its kernels through nvcc/ptxas for sm_80 and sm_90 (CUDA 13.0
    // from PyPI, cached), clippy and the device-selection tests with the `cuda` feature, and the
    // GPU check script's own logic on the CPU (no GPU needed for any of these).
    ['CUDA: kernels (PTX + ptxas sm_80/sm_90), clippy and tests with feature cuda', 'bash', ['scripts/build-cuda.sh', '--check']],
    // Its reference side is PyTorch on the CPU: scripts/install-torch.sh finds or installs it (cached).
    ['GPU check script: benches/gpu/check.sh --dry-run', 'bash', ['-c', 'PYTHON="$(bash scripts/install-torch.sh)" && export PYTHON && exec bash benches/gpu/check.sh --dry-run']],
    // crates/densenet-wasm is its own workspace (built by scripts/build-wasm.sh): lint and format it too.
    ['densenet-wasm: cargo clippy (warnings are errors)', 'cargo', ['clippy', '--locked', '--manifest-path', 'crates/densenet-wasm/Cargo.toml', '--target-dir', 'target/wasm-clippy', '--all-targets', '--', '-D', 'warnings']],
    ['densenet-wasm: cargo fmt --check', 'cargo', ['fmt', '--manifest-path', 'crates/densenet-wasm/Cargo.toml', '--check']],
  ];
  suite.ran = true;
  // Every variant `npm run build` builds must be there: one that the install skipped (it prints
  // why, and target/build-report.json keeps it) fails here, by name, besides its own tests.
  let report = {};
  try {
    report = JSON.parse(readFileSync(join(root, 'target', 'build-report.json'), 'utf8')).variants ?? {};
  } catch {
    // No report: built by hand (npm run build:native ...); the artifacts still decide.
  }
  for (const v of VARIANTS) {
    const name = `build: the ${v.name} variant was built (${v.artifact})`;
    if (existsSync(join(root, v.artifact))) {
      suite.passed += 1;
      console.log(`ok - ${name}`);
    } else {
      suite.failed += 1;
      const why = report[v.name]?.reason ? `: npm install skipped it: ${report[v.name].reason}` : `: run npm run ${v.script}`;
      console.log(`not ok - ${name}${why}`);
      suite.note += `${suite.note ? '\n' : ''}checks: ${name} failed${why}`;
    }
  }
  for (const [name, cmd, args] of checks) {
    console.log(`\n=== ${name}: ${cmd} ${args.join(' ')} ===`);
    const res = await run(cmd, args, () => {});
    if (res.code === 0) {
      suite.passed += 1;
      console.log(`ok - ${name}`);
    } else {
      suite.failed += 1;
      console.log(`not ok - ${name}`);
      suite.note += `${suite.note ? '\n' : ''}checks: ${name} failed`;
    }
  }
  return suite;
}

async function avaSuite(extra) {
  const suite = makeSuite('ava');
  const args = ['ava', '--tap', ...extra];
  console.log(`\n=== npx ${args.join(' ')} ===`);
  const re = /^(not ok|ok)\b(.*)$/;
  const res = await run(process.platform === 'win32' ? 'npx.cmd' : 'npx', args, (line) => {
    const m = re.exec(line);
    if (!m) return;
    const directive = /#\s*(SKIP|TODO)\b/i.exec(m[2]);
    if (directive) {
      suite.skipped += 1;
    } else if (m[1] === 'ok') {
      suite.passed += 1;
    } else {
      suite.failed += 1;
    }
  });
  settle(suite, res, 'ava');
  return suite;
}

const extra = process.argv.slice(2);
const cargo = await cargoSuite();
const checks = await checkSuite();
// The browser tests need Chromium: install Debian's when it is missing (a no-op when present), so
// that `npm install && npm test` is the whole set-up on a fresh machine too. A failure here shows
// up as failing browser tests, never as skipped ones.
console.log('\n=== bash scripts/install-chromium.sh ===');
await run('bash', ['scripts/install-chromium.sh'], () => {});
const suites = [cargo, checks, await avaSuite(extra)];

console.log('\n=== summary ===');
for (const s of suites) {
  console.log(`${s.name}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped/todo${s.ran ? '' : ' (did not run)'}`);
  if (s.note) console.log(s.note);
}
const passed = suites.reduce((a, s) => a + s.passed, 0);
const failed = suites.reduce((a, s) => a + s.failed, 0);
const skipped = suites.reduce((a, s) => a + s.skipped, 0);
const ok = failed === 0 && passed > 0 && suites.every((s) => s.ran);
process.exitCode = ok ? 0 : 1;
// Skipped tests (cargo's ignored, ava's skip/todo) are never counted as passed.
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
