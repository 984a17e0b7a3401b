/**
 * BENCHMARKS.md's summary table is generated from benches/results/*.json
 * (scripts/bench-summary.mjs): `--check` passes on the repository and fails, naming the row, when
 * a figure in the JSON no longer matches the page.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function check(dir: string) {
  return spawnSync(process.execPath, [join(dir, 'scripts', 'bench-summary.mjs'), '--check'], { encoding: 'utf8' });
}

/** A copy of what the script reads: itself, the JSON results and the page. */
function copyOfRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'densenet-bench-summary-'));
  cpSync(join(root, 'scripts', 'bench-summary.mjs'), join(dir, 'scripts', 'bench-summary.mjs'));
  cpSync(join(root, 'benches', 'results'), join(dir, 'benches', 'results'), { recursive: true });
  cpSync(join(root, 'BENCHMARKS.md'), join(dir, 'BENCHMARKS.md'));
  return dir;
}

test('the summary table of BENCHMARKS.md matches benches/results/*.json', (t) => {
  const r = check(root);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /matches/);
});

test('--check fails naming the row whose figure changed in the JSON', (t) => {
  const dir = copyOfRepo();
  try {
    const file = join(dir, 'benches', 'results', 'train-2026-12-02-deferred-bn.json');
    const result = JSON.parse(readFileSync(file, 'utf8'));
    result.speed.torch.images_per_s = 25; // was 20.22: the 2.48× row now reads 2.00×
    writeFileSync(file, JSON.stringify(result));
    const r = check(dir);
    t.is(r.status, 1);
    t.regex(r.stderr, /row: training speed, densenet-bc-100, batch 64, 32² \(images\/s, median\): ours efficient vs PyTorch `memory_efficient=False`/);
    t.notRegex(r.stderr, /row: same, vs PyTorch `memory_efficient=True`/, 'rows whose figures did not change are not named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--check fails naming the row whose figure was edited on the page', (t) => {
  const dir = copyOfRepo();
  try {
    const page = join(dir, 'BENCHMARKS.md');
    const text = readFileSync(page, 'utf8');
    t.true(text.includes('| **2.31×** |'));
    writeFileSync(page, text.replace('| **2.31×** |', '| **2.50×** |'));
    const r = check(dir);
    t.is(r.status, 1);
    t.regex(r.stderr, /row: fine-tuning, densenet121 224², batch 32, full training step/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every headline row transcribed from text names its source', (t) => {
  const manifest = JSON.parse(readFileSync(join(root, 'benches', 'results', 'summary.json'), 'utf8'));
  const files = new Set<string>();
  for (const row of manifest.rows) for (const side of [row.ours, row.theirs]) if (side) files.add(side.file);
  for (const file of files) {
    const result = JSON.parse(readFileSync(join(root, 'benches', 'results', file), 'utf8'));
    t.truthy(result.machine?.git && result.machine?.date, `${file} records its commit and date`);
    if (/transcribed/.test(result.source ?? '')) t.regex(result.source, /BENCHMARKS\.md, section/, `${file} names the section it came from`);
  }
});
