// Errors that used to escape untyped (reliability, round two): each is a DenseNetError with a
// code and names the path or option it is about, and nothing is left behind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { DenseNet, InvalidArgumentError } from '../ts/index.js';
import { TINY, tempDir } from './helpers/util.js';

test('saveCheckpoint with state that is not JSON (a cycle, a BigInt, a function): InvalidArgumentError naming the file, no file written', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const model = DenseNet.create(TINY, { seed: 1 });
  t.teardown(() => model.dispose());
  const cyclic: Record<string, unknown> = { epoch: 1 };
  cyclic.self = cyclic;
  const path = join(dir, 'c.safetensors');
  for (const [what, extra] of [['a cycle', cyclic], ['a BigInt', { step: 1n }], ['a function', () => 1]] as const) {
    const e = await t.throwsAsync(model.saveCheckpoint(path, extra), { instanceOf: InvalidArgumentError }, what);
    t.is(e!.code, 'ERR_INVALID_ARG', what);
    t.true(e!.message.includes(path), `${what}: ${e!.message}`);
    t.false(existsSync(path), what);
  }
  await model.saveCheckpoint(path, { epoch: 1 });
  t.deepEqual(await model.loadCheckpoint(path), { epoch: 1 });
});
