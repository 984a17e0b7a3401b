import test from 'ava';

import { DenseNet, InvalidArgumentError, MemoryError, ShapeError, estimateMemory } from '../ts/index.js';
import { TINY, randn } from './helpers/util.js';

test('estimateMemory: from the plan, naive above efficient above inference, f64 twice f32', (t) => {
  const est = estimateMemory('densenet-bc-100', [64, 3, 32, 32]);
  t.is(est.parameters, est.gradients);
  t.true(est.optimizer > 0 && est.optimizer < est.parameters, 'momentum covers the trainable tensors only');
  t.true(est.trainingNaive > est.trainingEfficient && est.trainingEfficient > est.inference && est.inference > 0);
  const f64 = estimateMemory('densenet-bc-100', [64, 3, 32, 32], 'f64');
  t.is(f64.trainingEfficient, 2 * est.trainingEfficient);
  t.throws(() => estimateMemory('densenet-bc-100', [64, 3, 32]), { instanceOf: ShapeError });
  t.throws(() => estimateMemory('densenet-bc-100', [64, -3, 32, 32] as number[]), { instanceOf: ShapeError });
});

test('a memory budget refuses a predict or a step with MemoryError naming the bytes; null lifts it', async (t) => {
  const model = DenseNet.create(TINY, { seed: 1 });
  const shape = [4, 3, 16, 16] as const;
  const x = randn(4 * 3 * 16 * 16);
  const est = model.memoryEstimate(shape);
  t.deepEqual(est, estimateMemory(TINY, shape));
  t.is(model.memoryBudget, null);
  model.setMemoryBudget(est.parameters + est.inference - 1);
  const err = await t.throwsAsync(model.predict(x, shape), { instanceOf: MemoryError });
  t.is(err?.code, 'ERR_MEMORY');
  t.regex(err?.message ?? '', new RegExp(`${est.parameters + est.inference} bytes`));
  model.setMemoryBudget(est.parameters + est.inference);
  t.is((await model.predict(x, shape)).logits.length, 40);
  await t.throwsAsync(model.trainStep(x, shape, new Int32Array([1, 2, 3, 4])), { instanceOf: MemoryError });
  t.is(model.step, 0);
  model.setMemoryBudget(null);
  await model.trainStep(x, shape, new Int32Array([1, 2, 3, 4]));
  t.is(model.step, 1);
  for (const bad of [0, -1, Number.NaN, Infinity, '1e9' as unknown as number]) {
    t.throws(() => model.setMemoryBudget(bad), { instanceOf: InvalidArgumentError });
  }
});
