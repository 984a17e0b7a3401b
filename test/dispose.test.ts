/**
 * `model.dispose()`: frees the native memory as soon as earlier calls settle; later calls fail
 * with a clear error; calls made before it complete.
 */
import test from 'ava';

import { DenseNet, InvalidArgumentError } from '../ts/index.js';
import { TINY, labelsFor, randn } from './helpers/util.js';

const SHAPE = [2, 3, 16, 16] as const;

test('after dispose every call fails with InvalidArgumentError "the model was disposed"', async (t) => {
  const model = DenseNet.create(TINY, { seed: 1 });
  t.false(model.disposed);
  await model.dispose();
  t.true(model.disposed);
  const x = randn(2 * 3 * 16 * 16);
  const disposed = { instanceOf: InvalidArgumentError, message: /the model was disposed/ };
  await t.throwsAsync(model.predict(x, SHAPE), disposed);
  await t.throwsAsync(model.trainStep(x, SHAPE, labelsFor(2, 10)), disposed);
  await t.throwsAsync(model.evalStep(x, SHAPE, labelsFor(2, 10)), disposed);
  await t.throwsAsync(model.save('/tmp/unused.safetensors'), disposed);
  await t.throwsAsync(model.saveCheckpoint('/tmp/unused.safetensors'), disposed);
  t.throws(() => model.parameterCount, disposed);
  t.throws(() => model.summary(), disposed);
  t.throws(() => model.setOptimizer({ lr: 0.1 }), disposed);
  t.throws(() => model.setLearningRate(0.1), disposed);
  t.throws(() => model.optimizer, disposed);
  t.throws(() => model.step, disposed);
  t.throws(() => model.setThreads(1), disposed);
  t.throws(() => model.setMemoryMode('naive'), disposed);
  // The config stays readable; dispose is idempotent.
  t.is(model.numClasses, 10);
  await model.dispose();
});

test('calls made before dispose complete; calls after it fail at once; dispose resolves after the queued work', async (t) => {
  const model = DenseNet.create(TINY, { seed: 1 });
  model.setOptimizer({ lr: 0.05 });
  const x = randn(2 * 3 * 16 * 16, 3);
  const order: string[] = [];
  const p1 = model.predict(x, SHAPE).then((r) => {
    order.push('predict');
    return r;
  });
  const p2 = model.trainStep(x, SHAPE, labelsFor(2, 10)).then((r) => {
    order.push('trainStep');
    return r;
  });
  const d = model.dispose().then(() => order.push('disposed'));
  t.is(model.dispose(), model.dispose(), 'the same promise every time');
  const late = model.predict(x, SHAPE);
  await t.throwsAsync(late, { instanceOf: InvalidArgumentError, message: /disposed/ });
  const [pred, step] = await Promise.all([p1, p2]);
  await d;
  t.deepEqual(order, ['predict', 'trainStep', 'disposed']);
  t.is(pred.shape[0], 2);
  t.true(Number.isFinite(step.loss));
});

test('dispose frees native memory at once: creating and disposing large models does not accumulate memory', async (t) => {
  // Each densenet-bc-190 holds about 100 MB of weights; six kept alive would need about 600 MB.
  const mib = (): number => process.memoryUsage().rss / 2 ** 20;
  const start = mib();
  for (let i = 0; i < 6; i++) {
    const m = DenseNet.create('densenet-bc-190');
    t.is(m.parameterCount, 25_624_430);
    await m.dispose();
  }
  const growth = mib() - start;
  t.log(`RSS growth after 6 create/dispose cycles of densenet-bc-190: ${growth.toFixed(0)} MiB`);
  t.true(growth < 400, `RSS grew by ${growth.toFixed(0)} MiB`);
});

test('a DenseNet.load that fails leaves nothing behind and the error is typed', async (t) => {
  const { dir, cleanup } = (await import('./helpers/util.js')).tempDir();
  t.teardown(cleanup);
  const path = `${dir}/w.safetensors`;
  await DenseNet.create(TINY).save(path);
  await t.throwsAsync(DenseNet.load(path, { ...TINY, growthRate: 8 }), { message: /./ });
  const ok = await DenseNet.load(path);
  t.is(ok.parameterCount, DenseNet.create(TINY).parameterCount);
  await ok.dispose();
});
