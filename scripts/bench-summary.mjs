#!/usr/bin/env node
// Writes BENCHMARKS.md's summary table from the benchmarks' JSON results, so that it cannot go
// stale: benches/results/summary.json names, for each headline row, the JSON file and the field
// of our figure and of the peer's; this script reads them, computes the ratio and puts the table
// between the markers `<!-- summary:start -->` and `<!-- summary:end -->`.
//
//   node scripts/bench-summary.mjs           # rewrite the table in BENCHMARKS.md
//   node scripts/bench-summary.mjs --check   # exit 1, naming each row, when the page differs
//
// The repository root is this script's parent folder (a copy of scripts/, benches/results/ and
// BENCHMARKS.md elsewhere is checked against itself).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'benches', 'results');
const PAGE = join(ROOT, 'BENCHMARKS.md');
const START = '<!-- summary:start -->';
const END = '<!-- summary:end -->';
const HEADER = [
  '| what | ours | peer | ratio | CPU | commit | date | command |',
  '|---|---:|---:|---:|---|---|---|---|',
];

const jsonCache = new Map();
function readResult(file) {
  if (!jsonCache.has(file)) jsonCache.set(file, JSON.parse(readFileSync(join(RESULTS, file), 'utf8')));
  return jsonCache.get(file);
}

/** The figure a side of a row names: the field's number, then `invert / x` or `x × scale`. */
function figure(side, rowName) {
  let value = readResult(side.file);
  for (const key of side.field.split('.')) {
    value = value?.[Array.isArray(value) ? Number(key) : key];
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`row "${rowName}": ${side.file} has no number at ${side.field}`);
  }
  if (side.invert !== undefined) value = side.invert / value;
  if (side.scale !== undefined) value *= side.scale;
  return value;
}

const grouped = (x, digits) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const cell = (s) => String(s).replaceAll('|', '\\|');

/** One table line per manifest row. */
function renderRow(row, defaultCpu) {
  const cpu = row.cpu ?? defaultCpu;
  if (row.notMeasured) {
    return `| ${row.what} | ${row.notMeasured} | ${row.peer} | – | ${cpu} | – | – | \`${cell(row.command)}\` |`;
  }
  const ours = figure(row.ours, row.what);
  const theirs = figure(row.theirs, row.what);
  // Time rows state their ratio as peer / ours, so that every ratio above 1 means we are faster.
  const ratio = row.ratio === 'theirs/ours' ? theirs / ours : ours / theirs;
  const source = readResult(row.ours.file);
  const commit = row.commit ?? source.machine.git;
  const date = (row.date ?? source.machine.date).slice(0, 10);
  const command = row.command ?? source.command;
  if (!command) throw new Error(`row "${row.what}": ${row.ours.file} has no command; give one in the manifest`);
  const unit = row.unit ? ` ${row.unit}` : '';
  return `| ${row.what} | ${grouped(ours, row.digits)}${unit} | ${row.peer}: ${grouped(theirs, row.digits)}${unit} | **${ratio.toFixed(2)}×** | ${cpu} | ${commit} | ${date} | \`${cell(command)}\` |`;
}

/** The table the JSON results give, as lines, each with the name of its row. */
export function summaryLines() {
  const manifest = JSON.parse(readFileSync(join(RESULTS, 'summary.json'), 'utf8'));
  return manifest.rows.map((row) => ({ name: row.what, line: renderRow(row, manifest.cpu) }));
}

function pageParts(text) {
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`BENCHMARKS.md has no ${START} ... ${END} block`);
  return { before: text.slice(0, a + START.length), table: text.slice(a + START.length, b), after: text.slice(b) };
}

function main(argv) {
  const rows = summaryLines();
  const text = readFileSync(PAGE, 'utf8');
  const parts = pageParts(text);
  if (argv.includes('--check')) {
    const onPage = parts.table.split('\n').filter((l) => l.startsWith('|')).slice(HEADER.length);
    const stale = rows.filter((r, i) => onPage[i] !== r.line).map((r) => r.name);
    if (onPage.length > rows.length) stale.push(`${onPage.length - rows.length} line(s) not in benches/results/summary.json`);
    if (stale.length > 0) {
      console.error(`BENCHMARKS.md's summary table differs from benches/results/*.json (run npm run bench:summary):`);
      for (const name of stale) console.error(`  row: ${name}`);
      return 1;
    }
    console.log(`BENCHMARKS.md's summary table matches benches/results/*.json (${rows.length} rows)`);
    return 0;
  }
  const table = ['', ...HEADER, ...rows.map((r) => r.line), ''].join('\n');
  writeFileSync(PAGE, parts.before + table + parts.after);
  console.log(`wrote the summary table of BENCHMARKS.md (${rows.length} rows)`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`bench-summary: ${err.message}`);
    process.exitCode = 2;
  }
}
