#!/usr/bin/env node
// Writes crates/densenet-cuda/link-stubs/<library>.txt: every function cudarc's bindings declare
// for the CUDA libraries the CUDA build links (libcuda, cuBLAS, cuBLASLt, cuRAND, NVRTC), one
// "name<TAB>what the stub returns" per line. densenet-cuda's build script compiles stub libraries
// from them, so the build links without a GPU driver or the 600 MB cuBLAS wheel; at run time the
// real libraries (same sonames) are loaded. Run after changing cudarc's version:
//
//   node scripts/cuda-link-stubs.mjs [path/to/cudarc-source]   (default: cargo's registry copy)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The version densenet-cuda pins (the lock also holds an older cudarc of an unused candle feature).
const manifest = readFileSync(join(root, 'crates', 'densenet-cuda', 'Cargo.toml'), 'utf8');
const version = /^cudarc = \{ version = "=([^"]+)"/m.exec(manifest)?.[1];
if (!version) throw new Error('crates/densenet-cuda/Cargo.toml pins no cudarc version');
function registrySource() {
  const base = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'registry', 'src');
  for (const index of existsSync(base) ? readdirSync(base) : []) {
    const dir = join(base, index, `cudarc-${version}`);
    if (existsSync(dir)) return dir;
  }
  throw new Error(`cudarc ${version} is not in ${base}: run \`cargo fetch\` first, or pass its source folder`);
}
const src = process.argv[2] ?? registrySource();
// library (the file name) → cudarc's bindings of it
const LIBS = { cuda: 'driver', cublas: 'cublas', cublasLt: 'cublaslt', curand: 'curand', nvrtc: 'nvrtc' };
for (const [lib, folder] of Object.entries(LIBS)) {
  const text = readFileSync(join(src, 'src', folder, 'sys', 'mod.rs'), 'utf8');
  const names = new Map();
  // The extern "C" declarations: `fn name(args) -> Ret;` (one line or several).
  for (const m of text.matchAll(/extern "C" \{\s*fn ([A-Za-z0-9_]+)\(([^;]*?)\)\s*(?:->\s*([^;]+))?;/g)) {
    const ret = (m[3] ?? '').trim();
    const kind = ret.startsWith('*') ? 'null' : ret === 'usize' || ret === '' ? 'zero' : 'error';
    names.set(m[1], kind);
  }
  if (names.size === 0) throw new Error(`no declarations in ${folder}/sys/mod.rs`);
  const lines = [...names].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, k]) => `${n}\t${k}`);
  writeFileSync(join(root, 'crates', 'densenet-cuda', 'link-stubs', `${lib}.txt`), `# cudarc ${version}: node scripts/cuda-link-stubs.mjs\n${lines.join('\n')}\n`);
  console.log(`${lib}: ${names.size} functions`);
}
