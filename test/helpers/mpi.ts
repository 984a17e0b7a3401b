/** Shared pieces of the data-parallel tests: the data, `mpirun`, reading weights (not a test file). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

import { labelsFor, randn } from './util.js';

/** The global batch of the exactness tests, and its images' side. */
export const GLOBAL_BATCH = 64;
export const SIDE = 8;
export const PLANE = 3 * SIDE * SIDE;

/** Global batch `s` (the same on every rank and in the single-process reference). */
export function globalBatch(s: number): { images: Float32Array; labels: Int32Array } {
  return { images: randn(GLOBAL_BATCH * PLANE, 100 + s), labels: labelsFor(GLOBAL_BATCH, 10, s) };
}

/**
 * `mpirun` on this machine (loopback, as root in CI): ranks may exceed the cores, and the shared
 * memory transport copies through a buffer (no ptrace-based single copy in containers).
 */
export const MPIRUN_ARGS = ['--allow-run-as-root', '--oversubscribe', '--mca', 'btl_vader_single_copy_mechanism', 'none'];

/** Why `mpirun` cannot run here, or null when it can. */
export function mpirunMissing(): string | null {
  const r = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (r.error) return `mpirun is not installed (${r.error.message}): run scripts/install-mpi.sh (npm run build does)`;
  if (r.status !== 0) return `mpirun --version failed: ${r.stderr}`;
  return null;
}

/** Exit code, signal, output and wall time of one mpirun. */
export interface MpiRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Starts `mpirun -np <np> <command...>`; `done` resolves when it exits (killed after `timeoutMs`). */
export function mpirun(np: number, command: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): { child: ChildProcess; done: Promise<MpiRun> } {
  const t0 = performance.now();
  const child = spawn('mpirun', [...MPIRUN_ARGS, '-np', String(np), ...command], {
    cwd: options.cwd,
    env: { ...process.env, DENSENET_DEBUG: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
  const done = new Promise<MpiRun>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    }),
  );
  return { child, done };
}

/** The F64 tensors of a safetensors file, by name. */
export function f64Tensors(buf: Buffer): Map<string, Float64Array> {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + n);
  const out = new Map<string, Float64Array>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F64') throw new Error(`${name} is ${t.dtype}, not F64`);
    const bytes = Buffer.from(data.subarray(t.data_offsets[0], t.data_offsets[1]));
    out.set(name, new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8));
  }
  return out;
}
