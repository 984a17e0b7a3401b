/**
 * Data-parallel training over MPI (Open MPI's mpirun on loopback): synchronized BN over 2 ranks
 * × 32 gives the weights of 1 rank × 64 after 3 SGD steps (f64, 1e-10); without it every rank
 * holds bit-identical weights after every step; `mpirun -np 2 densenet train` writes one
 * results.csv from rank 0 and resumes; a rank killed with SIGKILL ends the job within seconds and
 * leaves the last checkpoint loadable. mpirun missing is a failure, never a skip: Open MPI is
 * part of the set-up (scripts/install-mpi.sh, run by `npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { DenseNet, evaluate, loadNativeWithInfo, loadTrainingData } from '../ts/index.js';
import { readResultsCsv } from '../ts/train/index.js';
import { CLI_NODE_ARGS, TSX_IMPORT, cli } from './helpers/cli.js';
import { GLOBAL_BATCH, SIDE, f64Tensors, globalBatch, mpirun, mpirunMissing } from './helpers/mpi.js';
import { TINY, sameSafetensors, tempDir } from './helpers/util.js';

const CHILD = join(import.meta.dirname, 'helpers', 'mpi-child.ts');
const CHILD_ARGS = [process.execPath, '--import', TSX_IMPORT, CHILD];
const CLI = [process.execPath, ...CLI_NODE_ARGS];
const TINY_RUN = ['--limit', '256', '--validation-size', '64', '--batch-size', '32', '--threads', '1'];

const missing = mpirunMissing();

test.serial('mpirun and the MPI variant of the addon are installed', (t) => {
  t.is(missing, null);
  t.true(existsSync(join(import.meta.dirname, '..', 'native', 'densenet.linux-x64-gnu-mpi.node')), 'run npm run build:native:mpi');
});

test.serial('outside MPI the default addon loads (it does not link libmpi); under mpirun without the MPI variant, a typed error names it', (t) => {
  const info = loadNativeWithInfo().info;
  t.falsy(info.mpi);
  if (info.source.endsWith('.node')) {
    const ldd = spawnSync('ldd', [info.source], { encoding: 'utf8' });
    if (!ldd.error) t.notRegex(ldd.stdout, /libmpi/);
  }
  const code = `import { loadNative } from './ts/index.ts'; try { loadNative(); console.log('loaded'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--import', TSX_IMPORT, '--input-type=module', '-e', code], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', DENSENET_NATIVE_PATH: '/nonexistent/densenet-mpi.node' },
    encoding: 'utf8',
  });
  t.regex(r.stdout, /^ERR_NATIVE_LOAD could not load the MPI variant/);
  t.regex(r.stdout, /OMPI_COMM_WORLD_RANK=0, world size 2/);
  t.regex(r.stdout, /build:native:mpi/);
});

test.serial('outside mpirun a distributed trainStep is an InvalidArgumentError, and distributedWorld() is null', async (t) => {
  const { distributedWorld } = await import('../ts/index.js');
  t.is(distributedWorld(), null);
  const m = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => m.dispose());
  const { images, labels } = globalBatch(0);
  const err = await t.throwsAsync(m.trainStep(images, [GLOBAL_BATCH, 3, SIDE, SIDE], labels, { distributed: {} }));
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARG');
  t.regex(err!.message, /mpirun/);
});

test.serial('sync BN: 2 ranks × 32 give the weights of 1 rank × 64 after 3 SGD steps (f64, 1e-10), the same bits on both ranks', async (t) => {
  if (missing) return t.fail(missing);
  const { dir, cleanup } = tempDir('densenet-mpi-sync-');
  t.teardown(cleanup);
  const r = await mpirun(2, [...CHILD_ARGS, 'steps-sync', dir]).done;
  t.is(r.code, 0, r.stderr);
  // The referee: one process, the whole batch, plain trainStep.
  const ref = DenseNet.create(TINY, { dtype: 'f64', seed: 3 });
  for (let s = 0; s < 3; s++) {
    const { images, labels } = globalBatch(s);
    const one = await ref.trainStep(images, [GLOBAL_BATCH, 3, SIDE, SIDE], labels);
    const two = JSON.parse(readFileSync(join(dir, `step${s}.json`), 'utf8')) as { loss: number; correct: number };
    t.true(Math.abs(one.loss - two.loss) < 1e-10, `step ${s}: loss ${two.loss} vs ${one.loss}`);
    t.is(two.correct, one.correct);
  }
  await ref.save(join(dir, 'reference.safetensors'), { preprocessing: null });
  const want = f64Tensors(readFileSync(join(dir, 'reference.safetensors')));
  for (let s = 0; s < 3; s++) {
    t.true(sameSafetensors(readFileSync(join(dir, `step${s}-rank0.safetensors`)), readFileSync(join(dir, `step${s}-rank1.safetensors`))), `step ${s}: ranks differ`);
  }
  const got = f64Tensors(readFileSync(join(dir, 'step2-rank0.safetensors')));
  let worst = 0;
  for (const [name, w] of want) {
    const g = got.get(name)!;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - g[i]!));
  }
  t.true(want.size > 0 && worst <= 1e-10, `max difference ${worst}`);
});

test.serial('BN per replica (the default): every rank holds bit-identical weights after every step', async (t) => {
  if (missing) return t.fail(missing);
  const { dir, cleanup } = tempDir('densenet-mpi-ddp-');
  t.teardown(cleanup);
  const r = await mpirun(2, [...CHILD_ARGS, 'steps-ddp', dir]).done;
  t.is(r.code, 0, r.stderr);
  for (let s = 0; s < 3; s++) {
    t.true(sameSafetensors(readFileSync(join(dir, `step${s}-rank0.safetensors`)), readFileSync(join(dir, `step${s}-rank1.safetensors`))), `step ${s}: ranks differ`);
  }
});

test.serial('mpirun -np 2 densenet train: rank 0 alone prints and writes results.csv; --resume continues on 2 ranks, or reshards on 1', async (t) => {
  if (missing) return t.fail(missing);
  const { dir, cleanup } = tempDir('densenet-mpi-cli-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const first = await mpirun(2, [...CLI, 'train', ...TINY_RUN, '--epochs', '1', '--sync-bn', '--out', out], { cwd: dir }).done;
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout.match(/^data mnist/gm)?.length, 1, first.stdout);
  t.is(readResultsCsv(join(out, 'results.csv')).length, 1);
  for (const f of ['best.safetensors', 'checkpoint.safetensors', 'final.safetensors', 'summary.json']) t.true(existsSync(join(out, f)), f);
  // The ranks evaluated a share each: the summed figures are those of the whole test set (results.csv: 6 decimals).
  const data = await loadTrainingData('mnist', { limit: 256 });
  const final = await DenseNet.load(join(out, 'final.safetensors'));
  t.teardown(() => final.dispose());
  const whole = await evaluate(final, data.test!, {});
  const logged = readResultsCsv(join(out, 'results.csv'))[0]!.testError!;
  t.true(Math.abs(whole.top1Error - logged) <= 5e-7, `evaluate: ${whole.top1Error} (${whole.images} images), results.csv: ${logged}`);
  const again = await mpirun(2, [...CLI, 'train', '--resume', '--epochs', '2', '--out', out], { cwd: dir }).done;
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /resumed at epoch 2/);
  t.is(readResultsCsv(join(out, 'results.csv')).length, 2);
  // Another world size (here one process, no mpirun): the global batches are resharded, with a warning.
  const alone = await cli(['train', '--resume', '--epochs', '3', '--out', out], {}, { cwd: dir });
  t.is(alone.code, 0, alone.stderr);
  t.regex(alone.stderr, /resuming a run of 2 processes on 1: the same global batches, resharded/);
  t.is(readResultsCsv(join(out, 'results.csv')).length, 3);
});

test.serial('a rank killed with SIGKILL ends the job within seconds, never a hang; the last checkpoint stays loadable and resumes', async (t) => {
  if (missing) return t.fail(missing);
  const { dir, cleanup } = tempDir('densenet-mpi-kill-');
  t.teardown(cleanup);
  // Distributed steps forever; kill rank 1 once both ranks are stepping.
  const spin = mpirun(2, [...CHILD_ARGS, 'spin', dir], { timeoutMs: 120_000 });
  const pidFile = join(dir, 'rank1.pid');
  for (let i = 0; i < 600 && !(existsSync(pidFile) && existsSync(join(dir, 'rank0.pid'))); i++) await new Promise((r) => setTimeout(r, 100));
  t.true(existsSync(pidFile), 'rank 1 never started stepping');
  const killedAt = performance.now();
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  const r = await spin.done;
  const seconds = (performance.now() - killedAt) / 1000;
  t.not(r.code, 0);
  t.true(seconds < 15, `the job took ${seconds.toFixed(1)} s to stop after the kill`);
  // (Open MPI's 'exited on signal 9' notice goes through show_help, which sometimes loses it in containers.)
  // ...and the survivor is gone too, not left waiting in a collective.
  const pid0 = Number(readFileSync(join(dir, 'rank0.pid'), 'utf8'));
  for (let i = 0; i < 50 && running(pid0); i++) await new Promise((res) => setTimeout(res, 100));
  t.false(running(pid0), 'rank 0 still runs');

  // During a CLI run: kill rank 1 in epoch 2, after the epoch-1 checkpoint.
  const out = join(dir, 'run');
  const run = mpirun(2, [...CLI, 'train', ...TINY_RUN, '--epochs', '30', '--out', out], { cwd: dir, timeoutMs: 180_000 });
  const ckpt = join(out, 'checkpoint.safetensors');
  for (let i = 0; i < 1200 && !existsSync(ckpt); i++) await new Promise((r) => setTimeout(r, 100));
  t.true(existsSync(ckpt), 'no checkpoint was written');
  const rank1 = rankPid(run.child.pid!, 1);
  t.truthy(rank1, 'rank 1 not found');
  const t1 = performance.now();
  process.kill(rank1!, 'SIGKILL');
  const killed = await run.done;
  t.not(killed.code, 0);
  t.true((performance.now() - t1) / 1000 < 15, 'the CLI job did not stop within 15 s');
  const saved = JSON.parse(readFileSync(join(out, 'train-options.json'), 'utf8')) as Record<string, unknown>;
  t.is(saved.epochs, 30);
  // Loadable by the model of the run: resume it on 2 ranks for one more epoch.
  const done = readResultsCsv(join(out, 'results.csv')).length;
  const resumed = await mpirun(2, [...CLI, 'train', '--resume', '--epochs', String(done + 1), '--out', out], { cwd: dir }).done;
  t.is(resumed.code, 0, resumed.stderr);
  t.is(readResultsCsv(join(out, 'results.csv')).length, done + 1);
});

test.serial('a rank that fails with an error aborts the job (MPI_Abort) at once: the error is shown, nobody waits', async (t) => {
  if (missing) return t.fail(missing);
  const { dir, cleanup } = tempDir('densenet-mpi-fail-');
  t.teardown(cleanup);
  const r = await mpirun(2, [...CHILD_ARGS, 'fail', dir], { timeoutMs: 60_000 }).done;
  t.not(r.code, 0);
  t.true(r.seconds < 30, `took ${r.seconds.toFixed(1)} s`);
  t.regex(r.stderr, /rank 1 fails on purpose/);
  // Our own line (Open MPI's MPI_ABORT help text is sometimes lost: 'ORTE_ERROR_LOG ... show_help.c').
  t.regex(r.stderr, /rank 1 of 2 exits with code 1: aborting the MPI job/);
});

test.serial('SIGTERM to every rank (what mpirun sends on Ctrl-C): the ranks agree to stop, rank 0 writes a checkpoint, the run resumes', async (t) => {
  if (missing) return t.fail(missing);
  const { dir, cleanup } = tempDir('densenet-mpi-term-');
  t.teardown(cleanup);
  const out = join(dir, 'run');
  const run = mpirun(2, [...CLI, 'train', '--limit', '4096', '--validation-size', '64', '--batch-size', '32', '--threads', '1', '--epochs', '30', '--out', out], { cwd: dir });
  const csv = join(out, 'results.csv');
  for (let i = 0; i < 1200 && !(existsSync(csv) && readResultsCsv(csv).length >= 1); i++) await new Promise((r) => setTimeout(r, 100));
  for (const rank of [0, 1]) {
    const pid = rankPid(run.child.pid!, rank);
    t.truthy(pid, `rank ${rank} not found`);
    process.kill(pid!, 'SIGTERM');
  }
  const r = await run.done;
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /stopped after \d+ complete epochs? of 30/);
  t.notRegex(r.stderr, /MPI_ABORT was invoked/, 'a clean stop finalizes MPI');
  const done = readResultsCsv(csv).length;
  const again = await mpirun(2, [...CLI, 'train', '--resume', '--epochs', String(done + 1), '--out', out], { cwd: dir }).done;
  t.is(again.code, 0, again.stderr);
  t.is(readResultsCsv(csv).length, done + 1);
});

/** Whether a process exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    return !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The pid of rank `rank` among mpirun's processes (from their OMPI_COMM_WORLD_RANK). */
function rankPid(mpirunPid: number, rank: number): number | undefined {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== mpirunPid) continue;
      const env = readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
      if (env.includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(p);
    } catch {
      /* gone */
    }
  }
  return undefined;
}
