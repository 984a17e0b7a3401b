/**
 * The WASM build fine-tunes exactly like PyTorch in float64: the fine-tuning fixtures of
 * crates/densenet-cpu/tests/fixtures (finetune_*.safetensors, from
 * scripts/fixtures/make_finetune_fixtures.py: frozen parameters, frozen BNs in eval or train mode,
 * two parameter groups with their own lr and weight decay, Nesterov momentum, a LambdaLR factor
 * per step) run through the WASM model's own fine-tuning bindings in Node — setOptimizer with
 * the fixture's groups, freeze(specsJson), setFrozenBatchNorm, setLrFactor before every step —
 * in both memory modes. Checked as the native suite checks them (finetune_parity.rs), against
 * the fixture's values: the specs resolve to the parameters PyTorch froze; the loss of every
 * step, the logits of step 1, every trainable gradient of step 1 and every parameter and BN
 * running statistic after steps 1 and 3 within 1e-9 (‖ours − torch‖ / ‖torch‖); the frozen
 * parameters and, with frozen BNs in eval mode, the running statistics of the BNs whose affine
 * parameters are both frozen bit-identical to their initial values after the three steps.
 *
 * The model's own train step takes float32 input and exposes no gradients, and the fixtures'
 * inputs are not float32 values, so the steps go through two test hooks of an 'f64' WASM model
 * (trainStepF64: the same step on a float64 input; gradsF64: the gradient buffers); the
 * parameters are read back through weightsBytes. Control tests check that the comparison fails
 * when one of the fine-tuning settings is left out. When the WASM build is missing these tests FAIL.
 */
import test from 'ava';
import { join } from 'node:path';

import { FIXTURES, fixtureWeights, loadWasm, readSafetensors, readSafetensorsFile, relL2, type Tensor, type WasmModel } from './helpers/wasm.js';

const TOL = 1e-9;
const CASES = ['stem_block1', 'features', 'imagenet_middle', 'stem_block1_bn_train'];

/** The 'f64' WASM model with its float64 test hooks (npm/wasm32/index.cjs). */
interface F64Model extends WasmModel {
  trainStepF64(input: Float64Array, shape: number[], labels: Int32Array): Float64Array;
  gradsF64(): Float64Array;
}

/** A fine-tuning setting the control runs leave out. */
type Dropped = 'freeze' | 'frozenBatchNorm' | 'groups' | 'lrFactor';

interface Result {
  /** Relative error of every compared tensor. */
  errors: [string, number][];
  /** Frozen tensors that moved (bit-level). */
  moved: string[];
  /** Tensors checked bit-identical: frozen parameters, frozen-BN statistics. */
  still: { params: number; stats: number };
  frozen: string[];
  frozenRef: string[];
  trainable: string[];
  gradKeys: string[];
  afterKeys: Map<number, { ours: string[]; fixture: string[] }>;
}

/** The model's tensors (weightsBytes: every parameter and running statistic, float64). */
function tensorsOf(m: WasmModel): Map<string, Tensor> {
  return readSafetensors(m.weightsBytes()).tensors;
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const x = new BigUint64Array(a.buffer, a.byteOffset, a.length);
  const y = new BigUint64Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

function runCase(c: string, mode: 'efficient' | 'naive', omit?: Dropped): Result {
  const wasm = loadWasm();
  const fx = readSafetensorsFile(join(FIXTURES, `finetune_${c}.safetensors`));
  const md = fx.metadata;
  const config = md['config']!;
  const get = (key: string): Tensor => {
    const v = fx.tensors.get(key);
    if (!v) throw new Error(`finetune_${c}: '${key}' is not in the fixture`);
    return v;
  };
  const factors = JSON.parse(md['lr_factors']!) as number[];
  if (factors.length !== Number(md['steps'])) throw new Error(`finetune_${c}: ${factors.length} lr factors for ${md['steps']} steps`);

  const m = new wasm.NativeModel(config, 'f64', 0) as F64Model;
  try {
    m.loadWeightsBytes(fixtureWeights(m, Number(md['seed'])), `fixture weights (seed ${md['seed']})`);
    m.setMemoryMode(mode);
    const opt = JSON.parse(md['optimizer']!) as Record<string, unknown>;
    if (omit === 'groups') delete opt['groups'];
    m.setOptimizer(JSON.stringify(opt));
    if (omit !== 'freeze') m.freeze(md['freeze']!);
    const frozenBn = md['frozen_bn']!;
    m.setFrozenBatchNorm(omit === 'frozenBatchNorm' ? (frozenBn === 'eval' ? 'train' : 'eval') : frozenBn);

    const params = JSON.parse(m.parametersJson()) as { name: string; trainable: boolean }[];
    const frozen = params.filter((p) => !p.trainable).map((p) => p.name);
    const trainable = params.filter((p) => p.trainable).map((p) => p.name);
    const specs = JSON.parse(wasm.planSpecs(config)) as { name: string; numel: number; trainable: boolean }[];
    const errors: [string, number][] = [];
    const afterKeys = new Map<number, { ours: string[]; fixture: string[] }>();
    const before = tensorsOf(m);
    for (const t of before.values()) if (t.dtype !== 'F64') throw new Error(`weightsBytes of an f64 model wrote ${t.dtype}`);

    const shape = get('input.0').shape;
    for (let s = 0; s < factors.length; s++) {
      if (omit !== 'lrFactor') m.setLrFactor(factors[s]!);
      const labels = Int32Array.from(get(`labels.${s}`).data);
      const out = m.trainStepF64(get(`input.${s}`).data, shape, labels);
      errors.push([`loss ${s}`, relL2(out.subarray(0, 1), get('losses').data.subarray(s, s + 1))]);
      if (s === 0) {
        const logitsRef = get('logits').data;
        if (out.length !== 1 + logitsRef.length) throw new Error(`trainStepF64 returned ${out.length} values, expected ${1 + logitsRef.length}`);
        errors.push(['logits', relL2(out.subarray(1), logitsRef)]);
        errors.push(['loss', relL2(out.subarray(0, 1), get('loss').data)]);
        const grads = m.gradsF64();
        if (grads.length !== specs.reduce((a, sp) => a + sp.numel, 0)) throw new Error(`gradsF64 returned ${grads.length} values`);
        let o = 0;
        for (const sp of specs) {
          const g = grads.subarray(o, (o += sp.numel));
          if (!trainable.includes(sp.name)) continue;
          // A gradient PyTorch did not compute (a parameter it froze) cannot match.
          const ref = fx.tensors.get(`grad.${sp.name}`);
          errors.push([`grad.${sp.name}`, ref ? relL2(g, ref.data) : Infinity]);
        }
      }
      if (s === 0 || s + 1 === factors.length) {
        const prefix = `after${s + 1}`;
        const now = tensorsOf(m);
        for (const [name, t] of now) errors.push([`${prefix}.${name}`, relL2(t.data, get(`${prefix}.${name}`).data)]);
        afterKeys.set(s + 1, { ours: [...now.keys()].sort(), fixture: [...fx.tensors.keys()].filter((k) => k.startsWith(`${prefix}.`)).map((k) => k.slice(prefix.length + 1)).sort() });
      }
    }

    // Bit-identical after the last step: the frozen parameters and, with frozen BNs in eval mode,
    // the statistics of the BNs whose affine parameters are both frozen (PyTorch's own run keeps them).
    const frozenRef = JSON.parse(md['frozen_params']!) as string[];
    const after = tensorsOf(m);
    const moved: string[] = [];
    const still = { params: 0, stats: 0 };
    for (const [name, t0] of before) {
      const bn = /^(.*\.)running_(mean|var)$/.exec(name)?.[1];
      const statOfFrozenBn = bn !== undefined && frozenRef.includes(`${bn}weight`) && frozenRef.includes(`${bn}bias`);
      const isParam = frozenRef.includes(name);
      if (!isParam && !(frozenBn === 'eval' && statOfFrozenBn)) continue;
      if (!sameBits(t0.data, after.get(name)!.data)) moved.push(name);
      if (isParam) still.params++;
      else still.stats++;
    }
    const gradKeys = [...fx.tensors.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5)).sort();
    return { errors, moved, still, frozen, frozenRef, trainable, gradKeys, afterKeys };
  } finally {
    m.dispose();
  }
}

function worst(errors: [string, number][]): [string, number] {
  // NaN counts as worst.
  return errors.reduce((a, b) => (!(b[1] <= a[1]) ? b : a));
}

for (const c of CASES) {
  for (const mode of ['efficient', 'naive'] as const) {
    test(`fine-tuning parity in WASM, float64: ${c} (${mode}): loss, logits, trainable gradients, tensors after steps 1 and 3 ≤ 1e-9; frozen tensors bit-identical`, (t) => {
      const r = runCase(c, mode);
      t.deepEqual(r.frozen, r.frozenRef, 'freeze(specs) resolves to the parameters PyTorch froze');
      t.deepEqual(r.gradKeys, [...r.trainable].sort(), "the fixture's gradients are those of the trainable parameters, all compared");
      for (const [s, k] of r.afterKeys) t.deepEqual(k.ours, k.fixture, `after step ${s}: the model's tensors are the fixture's`);
      t.is(r.afterKeys.size, 2);
      t.true(r.still.params >= r.frozenRef.length && r.frozenRef.length > 0);
      t.deepEqual(r.moved, [], 'frozen parameters and frozen eval-mode BN statistics stay bit-identical');
      const w = worst(r.errors);
      t.log(
        `${c} ${mode}: ${r.errors.length} comparisons (3 losses, logits, ${r.trainable.length} gradients, 2 × ${r.afterKeys.get(1)?.ours.length} tensors), ` +
          `worst ${w[0]} ${w[1].toExponential(2)}; bit-identical: ${r.still.params} frozen parameters, ${r.still.stats} frozen-BN statistics`,
      );
      for (const [name, e] of r.errors) if (!(e <= TOL)) t.fail(`${name}: relative error ${e} > ${TOL}`);
    });
  }
}

// Controls: the comparison notices each fine-tuning setting being dropped (so the tests above
// could fail if a binding ignored its argument).
const CONTROLS: [Dropped, string][] = [
  ['freeze', 'stem_block1'],
  ['frozenBatchNorm', 'stem_block1'],
  ['groups', 'imagenet_middle'],
  ['lrFactor', 'features'],
];
for (const [omit, c] of CONTROLS) {
  test(`control: without ${omit}, ${c} is out of tolerance`, (t) => {
    const r = runCase(c, 'efficient', omit);
    const w = worst(r.errors);
    const out = r.errors.filter(([, e]) => !(e <= TOL)).length;
    t.log(`${c} without ${omit}: ${out} of ${r.errors.length} comparisons > ${TOL}, worst ${w[0]} ${w[1].toExponential(2)}; ${r.moved.length} frozen tensors moved`);
    t.true(out > 0, 'dropping the setting must break parity');
  });
}
