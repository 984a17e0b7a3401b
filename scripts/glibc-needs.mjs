#!/usr/bin/env node
// The highest glibc symbol version a native addon needs (`objdump -T`: its dynamic symbols'
// GLIBC_x.y), recorded next to it as <name>.glibc.json ({"glibc": "2.34"}) so the loader
// (ts/internal/glibc.ts) refuses it, naming both versions, on an older system instead of failing
// inside require(). objdump comes from binutils.
//
//   node scripts/glibc-needs.mjs native/densenet.linux-x64-gnu-cuda.node   # writes the record
//   node scripts/glibc-needs.mjs --max 2.28 FILE   # also fails when FILE needs more than 2.28
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** "2.34" from `objdump -T` output: the highest GLIBC_x.y[.z] any symbol is versioned with. */
export function highestGlibc(objdumpText) {
  let best;
  for (const m of objdumpText.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)) {
    if (!best || compare(m[1], best) > 0) best = m[1];
  }
  return best;
}

function compare(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The glibc `file` needs, from objdump (throws when objdump is missing). */
export function glibcNeeds(file) {
  return highestGlibc(execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

/** Where the record of `file` goes: `x.node` → `x.glibc.json` (as ts/internal/glibc.ts reads it). */
export function recordPath(file) {
  return `${file.replace(/\.node$/, '')}.glibc.json`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --max X.Y: the addon was linked for glibc X.Y (cargo-zigbuild); more is an error.
  const args = process.argv.slice(2);
  const at = args.indexOf('--max');
  const max = at >= 0 ? args.splice(at, 2)[1] : undefined;
  for (const file of args) {
    const glibc = glibcNeeds(file);
    if (!glibc) throw new Error(`${file}: objdump -T shows no GLIBC_ symbol versions`);
    if (max && compare(glibc, max) > 0) throw new Error(`${file} needs glibc ${glibc}, but it was linked for ${max}`);
    writeFileSync(recordPath(file), `${JSON.stringify({ glibc, ...(max ? { linkedFor: max } : {}), from: 'objdump -T' })}\n`);
    console.log(`${recordPath(file)}: glibc ${glibc}`);
  }
}
