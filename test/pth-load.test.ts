/**
 * DenseNet.load of PyTorch files without Python: torchvision's .pth (zip, stored and deflated; the
 * legacy pre-zip format), old torchvision names, DataParallel's prefix, checkpoints, f16 / bf16 /
 * f64 storages, strided tensors; each predicts PyTorch's logits (test/fixtures/pth, written by
 * scripts/fixtures/make_pth_fixtures.py). Hostile files fail with a WeightsError naming the file
 * and the tensor, entry or global.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { DenseNet, WeightsError, loadNative, readWeightsInfo, type ModelConfig } from '../ts/index.js';
import { unpickle } from '../ts/data/pickle.js';
import { canonicalTensorName, encodeSafetensors } from '../ts/weights/convert.js';
import { ZipArchive } from '../ts/weights/zip.js';
import { contiguousStride, pickleString, readSafetensors, torchPickle, writeZip, type PickledTensor } from './helpers/torch-files.js';
import { tempDir } from './helpers/util.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIX = join(here, 'fixtures', 'pth');
const REF = JSON.parse(readFileSync(join(FIX, 'logits.json'), 'utf8')) as {
  config: ModelConfig;
  inputShape: [number, number, number, number];
  logits: number[];
  logitsF16: number[];
  logitsMixed: number[];
};
const CONFIG = REF.config;

/** The fixture script's input: x[i] = ((i * 7919) % 251) / 128 - 1, exact in f32. */
const INPUT = (() => {
  const n = REF.inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((i * 7919) % 251) / 128 - 1;
  return x;
})();

async function logitsOf(path: string, dtype: 'f32' | 'f64'): Promise<Float32Array> {
  const model = await DenseNet.load(path, CONFIG, { dtype });
  try {
    return (await model.predict(INPUT, REF.inputShape)).logits;
  } finally {
    await model.dispose();
  }
}

/** Largest |a - b| / max(1, |b|). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

/** f64 model: its logits are returned as float32, so the best possible is PyTorch's f64 logit rounded to f32 (one ulp allowed for a rounding tie). */
function assertF64(t: import('ava').ExecutionContext, got: Float32Array, want: number[], what: string): void {
  t.is(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(want[i]!))) - 23);
    t.true(Math.abs(got[i]! - want[i]!) <= ulp, `${what}: logit ${i} = ${got[i]}, PyTorch (f64) ${want[i]}, more than one f32 ulp (${ulp}) apart`);
  }
}

const F32_TOL = 2e-5;

for (const [file, ref, what] of [
  ['tv.pth', 'logits', 'zip, stored, f32'],
  ['tv-legacy.pth', 'logits', 'legacy format, old torchvision names'],
  ['tv-ckpt.pt', 'logits', 'checkpoint dict, module. prefix, .pt'],
  ['tv-strided.pth', 'logits', 'non-contiguous tensors, storage offsets, a shared storage'],
  ['tv-f16.pth', 'logitsF16', 'float16 storages'],
  ['tv-mixed.bin', 'logitsMixed', 'bfloat16 and float64 storages, .bin'],
  ['tv.safetensors', 'logits', 'the same weights as safetensors'],
] as const) {
  test(`${file} (${what}) predicts PyTorch's logits, in f64 and f32`, async (t) => {
    const want = REF[ref];
    assertF64(t, await logitsOf(join(FIX, file), 'f64'), want, `${file} f64`);
    const f32 = await logitsOf(join(FIX, file), 'f32');
    t.true(relErr(f32, want) < F32_TOL, `${file} f32: relative error ${relErr(f32, want)}`);
  });
}

test('.pth and its safetensors copy give bit-identical f32 logits; the instance load replaces the weights', async (t) => {
  const a = await logitsOf(join(FIX, 'tv.pth'), 'f32');
  const b = await logitsOf(join(FIX, 'tv.safetensors'), 'f32');
  t.deepEqual([...a], [...b]);
  const m = DenseNet.create(CONFIG, { seed: 5 });
  const before = (await m.predict(INPUT, REF.inputShape)).logits;
  t.true(relErr(before, REF.logits) > 1e-2, 'a random model differs from the reference');
  await m.load(join(FIX, 'tv-legacy.pth'));
  t.deepEqual([...(await m.predict(INPUT, REF.inputShape)).logits], [...a]);
  await m.dispose();
});

test('a deflated zip (re-zipped tv.pth, another top folder name) loads as the stored one', async (t) => {
  const bytes = readFileSync(join(FIX, 'tv.pth'));
  const zip = new ZipArchive(bytes, 'tv.pth');
  const entries = [...zip.entries.values()].map((e) => ({ name: e.name.replace(/^tv\//, 'renamed_top/'), data: zip.read(e) }));
  const rezipped = writeZip(entries, true);
  t.true(rezipped.length < bytes.length, 'deflate made it smaller (so the records really are compressed)');
  const tmp = tempDir();
  try {
    const p = join(tmp.dir, 'weights.pt');
    writeFileSync(p, rezipped);
    t.deepEqual([...(await logitsOf(p, 'f32'))], [...(await logitsOf(join(FIX, 'tv.pth'), 'f32'))]);
  } finally {
    tmp.cleanup();
  }
});

test('the format is told by magic bytes: a .pth renamed .safetensors (and the other way round) still loads', async (t) => {
  const tmp = tempDir();
  try {
    const a = join(tmp.dir, 'really-a-pth.safetensors');
    const b = join(tmp.dir, 'really-safetensors.pth');
    writeFileSync(a, readFileSync(join(FIX, 'tv.pth')));
    writeFileSync(b, readFileSync(join(FIX, 'tv.safetensors')));
    const want = await logitsOf(join(FIX, 'tv.pth'), 'f32');
    t.deepEqual([...(await logitsOf(a, 'f32'))], [...want]);
    t.deepEqual([...(await logitsOf(b, 'f32'))], [...want]);
  } finally {
    tmp.cleanup();
  }
});

test('readWeightsInfo reads .pth files: the format, no config, no metadata; DenseNet.load without a config says to pass one', async (t) => {
  t.like(readWeightsInfo(join(FIX, 'tv.pth')), { format: 'pytorch-zip', config: null, preprocessing: null, metadata: {} });
  t.like(readWeightsInfo(join(FIX, 'tv-legacy.pth')), { format: 'pytorch-legacy', config: null });
  t.is(readWeightsInfo(join(FIX, 'tv.safetensors')).format, 'safetensors');
  const err = await t.throwsAsync(DenseNet.load(join(FIX, 'tv.pth')), { instanceOf: WeightsError });
  t.regex(err!.message, /tv\.pth carries no architecture \(a PyTorch file stores the weights only\); pass the config/);
});

test('a safetensors file with old torchvision names and the module. prefix (e.g. exported from a DataParallel checkpoint) loads by the same mapping', async (t) => {
  const st = readSafetensors(readFileSync(join(FIX, 'tv.safetensors')));
  const renamed = st.map((x) => ({ ...x, dtype: x.dtype as 'F32' | 'I64', name: 'module.' + x.name.replace(/(denselayer\d+\.(?:norm|conv))([12])\./, '$1.$2.') }));
  t.true(renamed.some((x) => /denselayer1\.norm\.1\.weight$/.test(x.name)), 'the names really are the old ones');
  const tmp = tempDir();
  try {
    const p = join(tmp.dir, 'old-names.safetensors');
    writeFileSync(p, encodeSafetensors(renamed, { note: 'renamed' }));
    t.deepEqual([...(await logitsOf(p, 'f32'))], [...(await logitsOf(join(FIX, 'tv.safetensors'), 'f32'))]);
  } finally {
    tmp.cleanup();
  }
});

test('name mapping: torchvision\'s _load_state_dict pattern, module. prefix; timm\'s names are torchvision\'s and stay', (t) => {
  t.is(canonicalTensorName('features.denseblock1.denselayer1.norm.1.weight'), 'features.denseblock1.denselayer1.norm1.weight');
  t.is(canonicalTensorName('features.denseblock3.denselayer12.conv.2.weight'), 'features.denseblock3.denselayer12.conv2.weight');
  t.is(canonicalTensorName('module.features.denseblock2.denselayer4.norm.2.running_var'), 'features.denseblock2.denselayer4.norm2.running_var');
  for (const timm of ['features.conv0.weight', 'features.norm0.running_mean', 'features.denseblock4.denselayer16.norm2.bias', 'features.transition1.norm.weight', 'features.transition3.conv.weight', 'features.norm5.weight', 'classifier.bias']) {
    t.is(canonicalTensorName(timm), timm);
  }
  t.is(canonicalTensorName('features.transition1.norm.1.weight'), 'features.transition1.norm.1.weight', 'only dense layers had the old names');
});

// --- hostile and broken files ---

/** tv.safetensors' tensors as a hand-made torch.save zip: one FloatStorage per tensor (storage key = index). */
function handMade(edit: (tensors: PickledTensor[], records: Map<string, Uint8Array>) => Uint8Array | void = () => {}): Uint8Array {
  const st = readSafetensors(readFileSync(join(FIX, 'tv.safetensors')));
  const records = new Map<string, Uint8Array>();
  const tensors: PickledTensor[] = st.map((s, i) => {
    records.set(String(i), s.data);
    const [storageType, es] = s.dtype === 'F32' ? ['FloatStorage', 4] : ['LongStorage', 8];
    return { name: s.name, key: String(i), storageType, numel: s.data.length / es, offset: 0, size: s.shape, stride: contiguousStride(s.shape) };
  });
  const pkl = edit(tensors, records) ?? torchPickle(tensors);
  return writeZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/byteorder', data: Buffer.from('little') }, ...[...records].map(([k, data]) => ({ name: `archive/data/${k}`, data }))]);
}

async function loadBytes(t: import('ava').ExecutionContext, bytes: Uint8Array, name = 'hostile.pth'): Promise<WeightsError> {
  const tmp = tempDir();
  try {
    const p = join(tmp.dir, name);
    writeFileSync(p, bytes);
    const err = await t.throwsAsync(DenseNet.load(p, CONFIG), { instanceOf: WeightsError });
    t.is(err!.code, 'ERR_WEIGHTS');
    t.true(err!.message.includes(p), `the message names the file: ${err!.message}`);
    return err as WeightsError;
  } finally {
    tmp.cleanup();
  }
}

test('the hand-made zip (_rebuild_tensor_v2, and PyTorch < 0.4\'s _rebuild_tensor) loads and predicts PyTorch\'s logits (so the hostile variants below differ only in what they break)', async (t) => {
  const tmp = tempDir();
  try {
    const p = join(tmp.dir, 'hand.pth');
    writeFileSync(p, handMade());
    t.true(relErr(await logitsOf(p, 'f32'), REF.logits) < F32_TOL);
    // PyTorch < 0.4 wrote torch._utils._rebuild_tensor(storage, offset, size, stride)
    writeFileSync(p, handMade((tensors) => torchPickle(tensors, undefined, '_rebuild_tensor')));
    t.true(relErr(await logitsOf(p, 'f32'), REF.logits) < F32_TOL);
  } finally {
    tmp.cleanup();
  }
});

for (const [module, name] of [
  ['os', 'system'],
  ['posix', 'system'],
  ['builtins', 'eval'],
  ['__builtin__', 'exec'],
  ['torch', 'load'],
  ['subprocess', 'Popen'],
] as const) {
  test(`a pickle naming ${module}.${name} is refused with ERR_WEIGHTS naming the global, and runs nothing`, async (t) => {
    const tmp = tempDir();
    const marker = join(tmp.dir, 'pwned');
    // the value of an extra key: module.name('touch <marker>')  (GLOBAL, MARK, string, TUPLE, REDUCE)
    const withCmd = Buffer.concat([Buffer.from(`c${module}\n${name}\n(`, 'latin1'), pickleString(`touch ${marker}`), Buffer.from([0x74, 0x52])]);
    const err = await loadBytes(t, handMade((tensors) => torchPickle(tensors, { name: 'features.evil', bytes: withCmd })));
    t.regex(err.message, new RegExp(`refusing global ${module}\\.${name}`));
    t.regex(err.message, /data\.pkl/);
    t.false(existsSync(marker), 'nothing ran');
    tmp.cleanup();
  });
}

test('a storage type outside the allow-list (torch.ByteStorage) is refused, naming it', async (t) => {
  const err = await loadBytes(t, handMade((tensors) => {
    tensors[0]!.storageType = 'ByteStorage';
  }));
  t.regex(err.message, /refusing global torch\.ByteStorage/);
});

test('a truncated zip, a corrupt record (CRC) and a zip without data.pkl are ERR_WEIGHTS naming the file', async (t) => {
  const good = readFileSync(join(FIX, 'tv.pth'));
  for (const cut of [good.length - 10, Math.floor(good.length / 2), 30]) {
    const err = await loadBytes(t, good.subarray(0, cut));
    t.regex(err.message, /not a readable zip archive|truncated/);
  }
  const zip = new ZipArchive(good, 'tv.pth');
  const entry = [...zip.entries.values()].find((e) => e.name === 'tv/data/0')!;
  const h = entry.headerOffset;
  const dataStart = h + 30 + good.readUInt16LE(h + 26) + good.readUInt16LE(h + 28); // torch pads the local header's extra field
  const corrupt = Buffer.from(good);
  corrupt[dataStart + 10]! ^= 0xff;
  t.regex((await loadBytes(t, corrupt)).message, /entry tv\/data\/0: CRC-32 mismatch/);
  const noPkl = writeZip([{ name: 'archive/other.txt', data: Buffer.from('hi') }]);
  t.regex((await loadBytes(t, noPkl)).message, /without data\.pkl/);
});

test('a tensor running past its storage, and a storage record shorter than it declares, are ERR_WEIGHTS naming the tensor / storage', async (t) => {
  const past = await loadBytes(t, handMade((tensors) => {
    const w = tensors.find((x) => x.name === 'classifier.weight')!;
    w.offset = 1; // one element too far: the last element lies past the storage
  }));
  t.regex(past.message, /tensor 'classifier\.weight'.*past the end of its storage/);
  const strided = await loadBytes(t, handMade((tensors) => {
    const w = tensors.find((x) => x.name === 'features.conv0.weight')!;
    w.stride = w.stride.map((s) => s * 2);
  }));
  t.regex(strided.message, /tensor 'features\.conv0\.weight'.*stride/);
  const short = await loadBytes(t, handMade((tensors, records) => {
    const i = tensors.findIndex((x) => x.name === 'features.norm5.bias');
    records.set(String(i), records.get(String(i))!.subarray(0, 4));
  }));
  t.regex(short.message, /storage '\d+' declares \d+ F32 elements .* holds 4 bytes/);
});

test('a wrong shape, an unknown tensor, a missing tensor and an int64 weight are ERR_WEIGHTS naming the tensor', async (t) => {
  const shape = await loadBytes(t, handMade((tensors) => {
    const w = tensors.find((x) => x.name === 'classifier.weight')!;
    w.size = [w.size[1]!, w.size[0]!];
    w.stride = contiguousStride(w.size);
  }));
  t.regex(shape.message, /tensor 'classifier\.weight' has shape \[\d+, ?\d+\], expected/);
  const unknown = await loadBytes(t, handMade((tensors) => {
    tensors.push({ ...tensors.find((x) => x.name === 'features.conv0.weight')!, name: 'features.conv9.weight' });
  }));
  t.regex(unknown.message, /unexpected tensor 'features\.conv9\.weight'/);
  const missing = await loadBytes(t, handMade((tensors) => {
    tensors.splice(tensors.findIndex((x) => x.name === 'features.norm0.running_var'), 1);
  }));
  t.regex(missing.message, /tensor 'features\.norm0\.running_var' is missing/);
  const int64 = await loadBytes(t, handMade((tensors) => {
    const w = tensors.find((x) => x.name === 'features.norm5.weight')!;
    w.storageType = 'LongStorage';
    w.numel = Math.floor(w.numel / 2);
    w.size = [w.numel];
    w.stride = [1];
  }));
  t.regex(int64.message, /tensor 'features\.norm5\.weight' has dtype int64/);
});

test('a truncated legacy file and a pickle that is not a torch.save file are ERR_WEIGHTS', async (t) => {
  const legacy = readFileSync(join(FIX, 'tv-legacy.pth'));
  for (const cut of [legacy.length - 3, Math.floor(legacy.length * 0.7), 40]) {
    const err = await loadBytes(t, legacy.subarray(0, cut));
    t.regex(err.message, /truncated|ends|needs \d+ bytes/);
  }
  const plainPickle = Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]); // {}
  t.regex((await loadBytes(t, plainPickle)).message, /not a torch\.save file/);
});

test('the CIFAR data unpickler keeps refusing torch globals and persistent ids (its allow-list is unchanged)', (t) => {
  const pkl = torchPickle([{ name: 'w', key: '0', storageType: 'FloatStorage', numel: 1, offset: 0, size: [1], stride: [1] }]);
  t.throws(() => unpickle(pkl, 'x.pkl'), { message: /refusing global torch\._utils\._rebuild_tensor_v2|persistent ids are not supported/ });
});

test('native loadWeightsBytes: loads safetensors bytes like load(path), names the source in errors, refuses a disposed model', async (t) => {
  const { NativeModel } = loadNative();
  const m = new NativeModel(JSON.stringify(CONFIG), 'f32', 3);
  const bytes = readFileSync(join(FIX, 'tv.safetensors'));
  await m.loadWeightsBytes(bytes, 'from-memory.safetensors');
  const got = await m.predict(INPUT, [...REF.inputShape]);
  t.true(relErr(got, REF.logits) < F32_TOL);
  const bad = await t.throwsAsync(async () => m.loadWeightsBytes(bytes.subarray(0, 100), 'cut.safetensors'));
  t.is((bad as Error & { code?: string }).code, 'ERR_WEIGHTS');
  t.regex(bad!.message, /cut\.safetensors/);
  m.dispose();
  const gone = await t.throwsAsync(async () => m.loadWeightsBytes(bytes, 'x'));
  t.is((gone as Error & { code?: string }).code, 'ERR_INVALID_ARG');
});
