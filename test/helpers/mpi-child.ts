/**
 * One rank of the data-parallel tests (test/distributed.test.ts), run as
 * `mpirun -np N node --import tsx test/helpers/mpi-child.ts <mode> <outDir>` (not a test file).
 *
 * Modes: `steps-sync` / `steps-ddp`: 3 SGD steps (f64, the tiny config) on this rank's share of
 * global batches of 64, saving every rank's weights after every step as
 * `outDir/step<s>-rank<r>.safetensors`; `spin`: distributed steps until killed, writing
 * `outDir/rank<r>.pid` after the first one; `fail`: the same, but rank 1 throws at its second step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { DenseNet, distributedWorld, shardRange } from '../../ts/index.js';
import { GLOBAL_BATCH, PLANE as plane, SIDE, globalBatch } from './mpi.js';
import { TINY } from './util.js';

const [mode, outDir] = process.argv.slice(2) as [string, string];
const world = distributedWorld();
if (!world) throw new Error('mpi-child: not under MPI (run it with mpirun -np 2 or more)');

const model = DenseNet.create(TINY, { dtype: 'f64', seed: 3 });
model.setThreads(1);
const [lo, hi] = shardRange(GLOBAL_BATCH, world);
const syncBatchNorm = mode === 'steps-sync';
const steps = mode === 'spin' || mode === 'fail' ? Infinity : 3;
for (let s = 0; s < steps; s++) {
  const { images, labels } = globalBatch(s % 3);
  const r = await model.trainStep(images.subarray(lo * plane, hi * plane), [hi - lo, 3, SIDE, SIDE], labels.subarray(lo, hi), { distributed: { syncBatchNorm } });
  if (mode === 'fail' && world.rank === 1 && s === 1) throw new Error('rank 1 fails on purpose');
  if (mode === 'spin' || mode === 'fail') {
    if (s === 0) writeFileSync(join(outDir, `rank${world.rank}.pid`), String(process.pid));
    continue;
  }
  await model.save(join(outDir, `step${s}-rank${world.rank}.safetensors`), { preprocessing: null });
  if (world.rank === 0) writeFileSync(join(outDir, `step${s}.json`), JSON.stringify(r));
}
