/**
 * The WASM build against the PyTorch fixtures (crates/densenet-cpu/tests/fixtures): eval-mode
 * logits in float64 (≤ 1e-9 of max|logit|) and float32 (≤ 1e-4), with the fixture weights rebuilt
 * by the generator. The WASM build is loaded directly: when it is missing these tests FAIL.
 */
import test from 'ava';
import { join } from 'node:path';

import { FIXTURES, fixtureWeights, loadWasm, readSafetensors, readSafetensorsFile, relMax, uniform } from './helpers/wasm.js';

const CASES = ['tiny_bc', 'tiny_basic', 'tiny_imagenet', 'densenet-bc-100', 'densenet-40', 'densenet121', 'densenet121_nonsquare'];

test('the fixture generator reproduces generator.safetensors bit for bit', (t) => {
  const fx = readSafetensorsFile(join(FIXTURES, 'generator.safetensors'));
  t.deepEqual(Array.from(uniform('input', 1n, 8)), Array.from(fx.tensors.get('u.0')!.data));
  t.deepEqual(Array.from(uniform('features.conv0.weight', 2n, 8)), Array.from(fx.tensors.get('u.1')!.data));
  t.deepEqual(Array.from(uniform('', (1n << 64n) - 1n, 4)), Array.from(fx.tensors.get('u.2')!.data));
  // The whole tiny_bc state at seed 1.
  const wasm = loadWasm();
  const m = new wasm.NativeModel(fx.metadata['config']!, 'f64', 0);
  m.loadWeightsBytes(fixtureWeights(m, 1), 'generated');
  const st = readSafetensors(m.weightsBytes());
  m.dispose();
  let checked = 0;
  for (const [name, ref] of fx.tensors) {
    if (!name.startsWith('state.')) continue;
    const mine = st.tensors.get(name.slice('state.'.length));
    if (!mine) continue; // num_batches_tracked
    t.deepEqual(Array.from(mine.data), Array.from(ref.data), name);
    checked++;
  }
  t.true(checked > 50, `checked ${checked} tensors`);
});

for (const c of CASES) {
  test(`inference parity in WASM: ${c} (f64 ≤ 1e-9, f32 ≤ 1e-4)`, (t) => {
    const wasm = loadWasm();
    const fx = readSafetensorsFile(join(FIXTURES, `infer_${c}.safetensors`));
    const config = fx.metadata['config']!;
    const seed = Number(fx.metadata['seed']);
    const input = fx.tensors.get('input')!;
    const m = new wasm.NativeModel(config, 'f32', 0);
    const weights = fixtureWeights(m, seed);

    const f64 = wasm.predictF64(config, weights, input.data, input.shape);
    const e64 = relMax(f64, fx.tensors.get('logits_f64')!.data);
    t.log(`${c} f64: ${e64.toExponential(2)}`);
    t.true(e64 <= 1e-9, `${c} f64 relative error ${e64}`);

    m.loadWeightsBytes(weights, 'generated');
    return m.predict(Float32Array.from(input.data), input.shape).then((f32) => {
      const e32 = relMax(f32, fx.tensors.get('logits_f32')!.data);
      t.log(`${c} f32: ${e32.toExponential(2)}`);
      t.true(e32 <= 1e-4, `${c} f32 relative error ${e32}`);
      m.dispose();
    });
  });
}
