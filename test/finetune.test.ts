/**
 * Fine-tuning end to end: a model pretrained here (by `densenet train` on an image folder of
 * digits 0–4) is fine-tuned with `--init-from --freeze features` on another image folder with
 * another class count (digits 5–7, few images), and beats the same budget from scratch; the
 * frozen features come out bit-identical; freezing, unfreezing and parameter groups survive an
 * interrupted run bit-exactly; bad fine-tuning input is refused with a typed error before
 * anything is written.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';
import sharp from 'sharp';

import { DenseNet, InvalidArgumentError, SubsetDataset, TrainAbortError, loadMnist, train, type Dataset, type ModelConfigInput } from '../ts/index.js';
import { readSafetensors } from './helpers/torch-files.js';
import type { TrainJsonResult } from '../ts/cli-types.js';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/util.js';

const { dir, cleanup } = tempDir('densenet-finetune-test-');
test.after.always(cleanup);

/** A small DenseNet-BC for 28×28 digits read as RGB from an image folder. */
const SMALL: ModelConfigInput = { growthRate: 8, blockConfig: [3, 3, 3], numInitFeatures: 16, bottleneck: true, bnSize: 4, compression: 0.5, smallInputs: true };

/** Writes images `from` to `to` (exclusive) of each of `digits` (MNIST's own order within a digit) as PNGs under `root/<split>/d<digit>/`. */
async function writeDigits(mnist: Dataset, root: string, split: string, digits: number[], from: number, to: number): Promise<void> {
  const seen = new Map<number, number>();
  for (let i = 0; i < mnist.length; i++) {
    const { pixels, label } = mnist.get(i);
    if (!digits.includes(label)) continue;
    const k = seen.get(label) ?? 0;
    seen.set(label, k + 1);
    if (k < from || k >= to) continue;
    const folder = join(root, split, `d${label}`);
    mkdirSync(folder, { recursive: true });
    const png = await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
    writeFileSync(join(folder, `${i}.png`), png);
  }
}

let source = '';
let target = '';
let config = '';

test.before(async () => {
  const mnist = await loadMnist();
  source = join(dir, 'digits0-4');
  target = join(dir, 'digits5-7');
  // Other digits, and disjoint images for the target's train and val folders.
  await writeDigits(mnist, source, 'train', [0, 1, 2, 3, 4], 0, 160);
  await writeDigits(mnist, target, 'train', [5, 6, 7], 0, 8);
  await writeDigits(mnist, target, 'val', [5, 6, 7], 8, 108);
  config = join(dir, 'small.json');
  writeFileSync(config, JSON.stringify(SMALL));
});

const COMMON = ['--dataset', 'folder', '--image-size', '28', '--no-augment', '--schedule', 'cosine', '--threads', '2', '--json'];

/** The final JSON line of a `densenet train --json` run. */
function resultOf(stdout: string): TrainJsonResult {
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const r = lines.find((l) => l['type'] === 'result');
  if (!r) throw new Error(`no result line in ${stdout}`);
  return r as unknown as TrainJsonResult;
}

test.serial('fine-tuning a pretrained model to a new image folder with another class count beats training from scratch', async (t) => {
  const pre = await cli(['train', ...COMMON, '--data', source, '--config', config, '--batch-size', '32', '--epochs', '6', '--out', join(dir, 'pre')], {}, { cwd: dir });
  t.is(pre.code, 0, pre.stderr);
  const pretrained = join(dir, 'pre', 'final.safetensors');

  // The same budget on the target: 10 epochs of its 24 images, for two seeds (the head's init and the batch order).
  const budget = ['--data', target, '--batch-size', '8', '--epochs', '10', '--lr', '0.1'];
  const accuracy = async (args: string[], out: string): Promise<number> => {
    const r = await cli(['train', ...COMMON, ...budget, ...args, '--out', join(dir, out)], {}, { cwd: dir });
    t.is(r.code, 0, r.stderr);
    return 1 - resultOf(r.stdout).testError!;
  };
  const ft: number[] = [];
  const scratch: number[] = [];
  for (const seed of ['0', '1']) {
    ft.push(await accuracy(['--init-from', pretrained, '--freeze', 'features', '--seed', seed], `ft${seed}`));
    scratch.push(await accuracy(['--config', config, '--seed', seed], `scratch${seed}`));
  }
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  const pctList = (v: number[]): string => v.map((x) => `${(x * 100).toFixed(1)}%`).join(', ');
  t.log(`target digits 5-7 (24 train / 300 test images), seeds 0 and 1: fine-tuned ${pctList(ft)}, from scratch ${pctList(scratch)}`);
  t.true(mean(ft) >= mean(scratch) + 0.1, `fine-tuned ${pctList(ft)} vs scratch ${pctList(scratch)}`);
  t.true(Math.min(...ft) >= 0.8, `fine-tuned accuracy ${pctList(ft)}`);

  // Frozen features: bit-identical to the pretrained ones; a new 3-class head with the new class names.
  const tensors = (file: string): Map<string, Uint8Array> => new Map(readSafetensors(readFileSync(file)).map((x) => [x.name, x.data]));
  const before = tensors(pretrained);
  const after = tensors(join(dir, 'ft0', 'final.safetensors'));
  let features = 0;
  for (const [name, bytes] of before) {
    if (!name.startsWith('features.')) continue;
    features++;
    t.deepEqual(after.get(name), bytes, `${name} changed while frozen`);
  }
  t.true(features > 50);
  const model = await DenseNet.load(join(dir, 'ft0', 'final.safetensors'));
  t.teardown(() => model.dispose());
  t.is(model.numClasses, 3);
  t.deepEqual(model.preprocessing?.classNames, ['d5', 'd6', 'd7']);
});

test.serial('densenet info --model shows the trainable stages of a checkpoint and previews a freeze', async (t) => {
  const ckpt = join(dir, 'ft0', 'checkpoint.safetensors');
  t.true(existsSync(ckpt));
  const r = await cli(['info', '--model', ckpt], {}, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^block1\s+[\d,]+\s+frozen/m);
  t.regex(r.stdout, /^classifier\s+[\d,]+\s+yes/m);
  const preview = await cli(['info', '--model', join(dir, 'pre', 'final.safetensors'), '--freeze', 'stem,block1', '--json'], {}, { cwd: dir });
  t.is(preview.code, 0, preview.stderr);
  const json = JSON.parse(preview.stdout) as { stages: { stage: string; parameters: number; trainable: number }[]; trainable: number; parameters: number };
  const byStage = Object.fromEntries(json.stages.map((s) => [s.stage, s]));
  t.is(byStage['stem']!.trainable, 0);
  t.is(byStage['block1']!.trainable, 0);
  t.is(byStage['block2']!.trainable, byStage['block2']!.parameters);
  t.is(json.trainable, json.parameters - byStage['stem']!.parameters - byStage['block1']!.parameters);
});

test.serial('freeze, unfreezeAt and parameter groups: an interrupted run resumes to the bits of an uninterrupted one', async (t) => {
  const mnist = await loadMnist();
  const data = new SubsetDataset(mnist, Array.from({ length: 96 }, (_, i) => i));
  const options = {
    trainSet: data,
    epochs: 3,
    batchSize: 16,
    validationSize: 16,
    lr: 0.1,
    freeze: ['stem', 'block1'],
    unfreezeAt: 1,
    paramGroups: [{ name: 'backbone', prefixes: ['features'], lr: 0.02, weightDecay: 0 }],
    schedule: 'cosine' as const,
    threads: 2,
  };
  const make = (): DenseNet => DenseNet.create({ ...SMALL, inChannels: 1, numClasses: 10, smallInputs: false }, { dtype: 'f64', seed: 5 });
  const whole = make();
  t.teardown(() => whole.dispose());
  const events: string[] = [];
  await train(whole, { ...options, outDir: join(dir, 'whole'), onEvent: (e) => void (e.type === 'unfreeze' && events.push(`${e.epoch}:${e.specs.join(',')}`)) });
  t.deepEqual(events, ['1:stem,block1']);

  const first = make();
  t.teardown(() => first.dispose());
  const ac = new AbortController();
  let batches = 0;
  // Stop in the middle of epoch 2 (after the unfreeze), then resume in a fresh model.
  const err = await t.throwsAsync(train(first, { ...options, outDir: join(dir, 'cut'), signal: ac.signal, onBatch: () => void (++batches === 7 && ac.abort()) }));
  t.true(err instanceof TrainAbortError);
  const second = make();
  t.teardown(() => second.dispose());
  await train(second, { ...options, outDir: join(dir, 'cut'), resume: true });
  t.deepEqual(readFileSync(join(dir, 'cut', 'final.safetensors')), readFileSync(join(dir, 'whole', 'final.safetensors')));
  t.is(second.trainableParameterCount, second.parameterCount);
  t.deepEqual(second.optimizer.groups?.map((g) => g.name), ['backbone']);
});

test.serial('bad fine-tuning input: typed errors naming what is wrong, nothing written', async (t) => {
  const model = DenseNet.create({ ...SMALL, inChannels: 1, numClasses: 10, smallInputs: false });
  t.teardown(() => model.dispose());
  const mnist = await loadMnist();
  const data = new SubsetDataset(mnist, Array.from({ length: 32 }, (_, i) => i));
  const out = join(dir, 'refused');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ freeze: ['block9'] }, /block9/],
    [{ freeze: ['features'], unfreezeAt: 5 }, /unfreezeAt 5 is at or past the end of training/],
    [{ unfreezeAt: 1 }, /unfreezeAt needs freeze/],
    [{ paramGroups: [{ name: 'b', prefixes: ['nope'] }] }, /nope/],
    [{ paramGroups: [{ name: 'b', prefixes: ['features'], lr: -1 }] }, /lr/],
  ];
  for (const [extra, message] of cases) {
    const err = await t.throwsAsync(train(model, { trainSet: data, epochs: 2, validationSize: 0, outDir: out, ...extra }));
    t.true(err instanceof InvalidArgumentError, `${JSON.stringify(extra)}: ${String(err)}`);
    t.regex(err!.message, message);
    t.false(existsSync(out), `${JSON.stringify(extra)} created ${out}`);
  }
  t.is(model.trainableParameterCount, model.parameterCount);

  const pth = await cli(['train', ...COMMON, '--data', target, '--init-from', join(dir, 'missing.safetensors'), '--out', join(dir, 'x')], {}, { cwd: dir });
  t.is(pth.code, 1);
  t.regex(pth.stderr, /missing\.safetensors/);
  t.notRegex(pth.stderr, /^\s+at /m);
  const gray = await cli(['train', '--dataset', 'mnist', '--limit', '64', '--init-from', join(dir, 'pre', 'final.safetensors'), '--out', join(dir, 'y')], {}, { cwd: dir });
  t.is(gray.code, 1);
  t.regex(gray.stderr, /takes? 3 input channels.*have 1/);
  t.false(existsSync(join(dir, 'y')));
  t.deepEqual(readdirSync(dir).filter((f) => f === 'x'), []);
});
