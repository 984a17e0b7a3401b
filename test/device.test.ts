/**
 * Device selection (issue #12): `device: 'cuda' | 'cuda:N'` asks for the CUDA build of the addon;
 * where it cannot run (no CUDA build installed, no driver or GPU, a missing CUDA library, no GPU
 * N) creating a model is a typed error, never a crash. A bad device name is an argument error.
 */
import test from 'ava';

import { DenseNet, DenseNetError, InvalidArgumentError } from '../ts/index.js';
import { TINY } from './helpers/util.js';

test('a device that is not cpu, cuda or cuda:N is an InvalidArgumentError', (t) => {
  for (const device of ['gpu', 'cuda:', 'cuda:x', 'CUDA', 'cuda:-1']) {
    const err = t.throws(() => DenseNet.create(TINY, { device: device as 'cuda' }));
    t.true(err instanceof InvalidArgumentError, device);
  }
});

test("device: 'cpu' is the default and runs on the CPU addon", (t) => {
  const m = DenseNet.create(TINY, { device: 'cpu' });
  t.true(m.parameterCount > 0);
  m.dispose();
});

test("device: 'cuda' without a usable GPU is a typed error naming what is missing", (t) => {
  if (process.env.DENSENET_TEST_HAS_GPU === '1') return t.pass('a GPU is present');
  for (const device of ['cuda', 'cuda:3'] as const) {
    const err = t.throws(() => DenseNet.create(TINY, { device, backend: 'native' }));
    t.true(err instanceof DenseNetError, `${device}: ${String(err)}`);
    // No CUDA build here: ERR_NATIVE_LOAD names the package; a CUDA build without a GPU: ERR_DEVICE.
    t.true(['ERR_NATIVE_LOAD', 'ERR_DEVICE'].includes((err as DenseNetError).code), (err as DenseNetError).code);
    t.regex(err!.message, /cuda|CUDA|NVIDIA/);
  }
});
