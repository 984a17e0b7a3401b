// Helpers shared by the side-by-side benchmarks: flags, child processes measured with GNU time,
// medians, machine description and plain-text tables.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `--name value`, `--name=value` and boolean `--name` / `--no-name`, typed after `defaults`. */
export function parseFlags(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let [name, value] = a.slice(2).split(/=(.*)/s, 2);
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) {
      const neg = key.startsWith('no') ? key[2].toLowerCase() + key.slice(3) : null;
      if (neg && typeof defaults[neg] === 'boolean') { out[neg] = false; continue; }
      throw new Error(`unknown flag --${name}; known: ${Object.keys(defaults).map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(' ')}`);
    }
    if (typeof defaults[key] === 'boolean') { out[key] = value === undefined ? true : value !== 'false'; continue; }
    if (value === undefined) value = argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    out[key] = typeof defaults[key] === 'number' ? Number(value) : value;
    if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) throw new Error(`--${name} must be a number`);
  }
  return out;
}

export function median(v) {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const GNU_TIME = '/usr/bin/time';
export const haveGnuTime = existsSync(GNU_TIME);

/**
 * Runs one benchmark process (under `/usr/bin/time -v` when present) and returns its last
 * JSON stdout line, the OS's max RSS (KiB; the process's own VmHWM when GNU time is missing)
 * and the wall time.
 */
export function runMeasured(cmd, args, { log = () => {}, cwd = ROOT, env = process.env } = {}) {
  const argv = haveGnuTime ? [GNU_TIME, ['-v', cmd, ...args]] : [cmd, args];
  log(`$ ${[cmd, ...args].join(' ')}`);
  const t = performance.now();
  const r = spawnSync(argv[0], argv[1], { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wallS = (performance.now() - t) / 1e3;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${(r.stderr || '').slice(-3000)}`);
  }
  const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  if (!lines.length) throw new Error(`${cmd} printed no JSON:\n${r.stdout.slice(-2000)}`);
  const json = JSON.parse(lines[lines.length - 1]);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr || '');
  const maxRssKb = m ? Number(m[1]) : json.peak_rss_kb;
  return { json, maxRssKb, wallS };
}

/** Runs a command and returns its trimmed stdout, or null when it fails. */
export function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', ...opts });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function machine() {
  const lscpu = capture('lscpu', []) || '';
  const model = /Model name:\s*(.*)/.exec(lscpu)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    cpu: model,
    cpus: os.availableParallelism(),
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavg: os.loadavg().map((v) => +v.toFixed(2)),
    kernel: os.release(),
    node: process.version,
    rustc: capture('rustc', ['--version']),
    git: capture('git', ['rev-parse', '--short', 'HEAD']),
    date: new Date().toISOString(),
  };
}

/** Builds a Rust example of densenet-cpu in release mode; returns its path. */
export function buildExample(name, { build = true, log = () => {} } = {}) {
  if (build) {
    log(`building example ${name} (cargo build --release -p densenet-cpu --example ${name})`);
    const r = spawnSync('cargo', ['build', '--release', '-p', 'densenet-cpu', '--example', name], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`cargo build of example ${name} failed`);
  }
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  return path.join(target, 'release', 'examples', name);
}

/** A plain-text table with right-aligned numeric columns. */
export function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const w = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  const sep = '|' + w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : '-'.repeat(x + 1) + ':')).join('|') + '|';
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n');
}

/** (max − min) / median of `v`: the relative spread of a set of medians (0 for one value). */
export function spread(v) {
  if (v.length < 2) return 0;
  return (Math.max(...v) - Math.min(...v)) / median(v);
}

/** The load averages now (1, 5, 15 minutes), rounded. */
export const loadavg = () => os.loadavg().map((x) => +x.toFixed(2));

export const mib = (kb) => (kb / 1024).toFixed(0);
export const fix = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
