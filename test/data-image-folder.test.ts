// Image folders: sharp decoding to RGB CHW, class discovery, eval center crop, random-resized crop, errors.
import test from 'ava';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  loadImageFolder,
  splitTrainValidation,
  DataLoader,
  DataError,
  IMAGENET_AUGMENTATION,
  CIFAR_AUGMENTATION,
  randomResizedCropBox,
  centerCropBox,
  Rng,
  type ImageFolderDataset,
} from '../ts/data/index.js';
import { loadTrainingData } from '../ts/train/data.js';

let root = '';

/** RGB image whose pixel (x, y) is (x*4, y*4, 100 + class*50): position and class are readable from the colours. */
async function image(w: number, h: number, cls: number, format: 'png' | 'jpeg', channels: 1 | 3 | 4 = 3): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * channels;
      if (channels === 1) raw[o] = 60 + cls;
      else {
        raw[o] = (x * 4) & 255;
        raw[o + 1] = (y * 4) & 255;
        raw[o + 2] = 100 + cls * 50;
        if (channels === 4) raw[o + 3] = 255;
      }
    }
  const img = sharp(raw, { raw: { width: w, height: h, channels } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

test.before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'densenet-folder-'));
  await mkdir(path.join(root, 'cat', 'nested'), { recursive: true });
  await mkdir(path.join(root, 'dog'));
  await mkdir(path.join(root, 'ant'));
  await writeFile(path.join(root, 'cat', 'a.png'), await image(64, 48, 1, 'png'));
  await writeFile(path.join(root, 'cat', 'nested', 'b.JPG'), await image(40, 40, 1, 'jpeg'));
  await writeFile(path.join(root, 'cat', 'notes.txt'), 'ignored');
  await writeFile(path.join(root, 'dog', 'c.jpeg'), await image(50, 70, 2, 'jpeg'));
  await writeFile(path.join(root, 'dog', 'gray.png'), await image(32, 32, 2, 'png', 1));
  await writeFile(path.join(root, 'dog', 'rgba.png'), await image(32, 32, 2, 'png', 4));
  await writeFile(path.join(root, 'ant', 'd.png'), await image(32, 32, 0, 'png'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

test('image folder: classes sorted, files found recursively, RGB CHW at the requested size', async (t) => {
  const ds = await loadImageFolder(root, { size: 16 });
  t.deepEqual(ds.classNames, ['ant', 'cat', 'dog']);
  t.is(ds.length, 6);
  t.deepEqual(
    ds.files.map((f) => path.relative(root, f)),
    ['ant/d.png', 'cat/a.png', 'cat/nested/b.JPG', 'dog/c.jpeg', 'dog/gray.png', 'dog/rgba.png'],
  );
  t.deepEqual([...ds.labels], [0, 1, 1, 2, 2, 2]);
  t.deepEqual([ds.channels, ds.height, ds.width], [3, 16, 16]);
  for (let i = 0; i < ds.length; i++) {
    const s = await ds.get(i);
    t.is(s.pixels.length, 3 * 16 * 16);
    t.is(s.label, ds.labels[i]!);
  }
  // Blue channel encodes the class (JPEG: approximately).
  const a = await ds.get(1);
  t.true(a.pixels.subarray(2 * 256).every((v) => Math.abs(v - 150) <= 2));
  // Red grows left → right, green top → bottom (CHW layout, not HWC).
  t.true(a.pixels[15]! > a.pixels[0]! + 100);
  t.true(a.pixels[256 + 15 * 16]! > a.pixels[256]! + 80);
  // Grayscale is replicated to three equal channels.
  const g = await ds.get(4);
  t.true(g.pixels.every((v) => v === 62));
  const rgba = await ds.get(5);
  t.true(rgba.pixels.subarray(512).every((v) => v === 200));
});

test('image folder: eval transform = shorter side to evalResize, center crop', async (t) => {
  t.deepEqual(centerCropBox(64, 48, 16, 16, 16), { left: 8, top: 0, width: 48, height: 48 });
  t.deepEqual(centerCropBox(256, 256, 224, 224, 256), { left: 16, top: 16, width: 224, height: 224 });
  const ds = await loadImageFolder(root, { size: 16, evalResize: 16 });
  const s = await ds.get(1); // 64x48 → centred 48x48 window: red spans x = 8..55 → 32..220
  t.true(Math.abs(s.pixels[0]! - 32) <= 8, `left red ${s.pixels[0]}`);
  t.true(Math.abs(s.pixels[15]! - 220) <= 8, `right red ${s.pixels[15]}`);
  t.is((await loadImageFolder(root, { size: 224 })).evalResize, 256);
});

test('image folder: loader with random-resized crop + flip; split; toInMemory', async (t) => {
  const ds = await loadImageFolder(root, { size: [12, 10] });
  const { train, validation } = splitTrainValidation(ds, { validationSize: 2, seed: 1 });
  t.is(train.length, 4);
  t.is(validation.length, 2);
  t.deepEqual([...train.files, ...validation.files].sort(), [...ds.files].sort());
  const loader = new DataLoader(ds, { batchSize: 4, seed: 9, augment: IMAGENET_AUGMENTATION, normalization: 'imagenet' });
  const seen: number[] = [];
  const first: Float32Array[] = [];
  for await (const b of loader) {
    t.deepEqual(b.shape.slice(1), [3, 12, 10]);
    seen.push(...b.indices);
    first.push(b.images);
    t.true(b.images.every((v) => Number.isFinite(v)));
  }
  t.deepEqual(seen.sort(), [0, 1, 2, 3, 4, 5]);
  // deterministic: same seed, same images (decode order does not matter)
  const again: Float32Array[] = [];
  for await (const b of new DataLoader(ds, { batchSize: 4, seed: 9, augment: IMAGENET_AUGMENTATION, normalization: 'imagenet' })) again.push(b.images);
  t.deepEqual(again, first);
  t.throws(() => new DataLoader(ds, { augment: CIFAR_AUGMENTATION }), { instanceOf: DataError, message: /in-memory/ });
  const mem = await ds.toInMemory();
  t.is(mem.length, 6);
  t.deepEqual(mem.get(1).pixels, (await ds.get(1)).pixels);
  // random-resized-crop boxes stay inside the image and respect the area range
  const r = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const b = randomResizedCropBox(64, 48, r);
    t.true(b.left >= 0 && b.top >= 0 && b.left + b.width <= 64 && b.top + b.height <= 48 && b.width >= 1 && b.height >= 1);
  }
});

test('image folder: undecodable image is a DataError naming the file and index; missing folders', async (t) => {
  const bad = await mkdtemp(path.join(tmpdir(), 'densenet-bad-'));
  try {
    await mkdir(path.join(bad, 'x'));
    await mkdir(path.join(bad, 'y'));
    await writeFile(path.join(bad, 'x', 'ok.png'), await image(8, 8, 0, 'png'));
    await writeFile(path.join(bad, 'y', 'broken.jpg'), Buffer.from('this is not a jpeg'));
    const ds = await loadImageFolder(bad, { size: 8 });
    const file = path.join(bad, 'y', 'broken.jpg');
    const e = await t.throwsAsync(ds.get(1), { instanceOf: DataError });
    t.is(e!.code, 'ERR_DATA_UNDECODABLE_IMAGE');
    t.is(e!.file, file);
    t.is(e!.index, 1);
    t.true(e!.message.startsWith(`${file}: record 1: cannot decode image`));
    const loader = new DataLoader(ds, { batchSize: 2, shuffle: false });
    await t.throwsAsync(async () => {
      for await (const b of loader) void b;
    }, { instanceOf: DataError, message: /broken\.jpg/ });
    await mkdir(path.join(bad, 'z'));
    await t.throwsAsync(loadImageFolder(bad), { instanceOf: DataError, message: /no \.jpg\/\.jpeg\/\.png images for class\(es\) z/ });
    await t.throwsAsync(loadImageFolder(path.join(bad, 'nope')), { instanceOf: DataError, message: /image folder not found/ });
  } finally {
    await rm(bad, { recursive: true, force: true });
  }
});

test('image folder: a split with a class the training split lacks is refused, naming it; a missing class is allowed', async (t) => {
  const data = await mkdtemp(path.join(tmpdir(), 'densenet-splits-'));
  try {
    for (const [split, classes] of [
      ['train', ['ant', 'cat', 'dog']],
      ['val', ['cat', 'dog', 'zebra']],
    ] as const) {
      for (const [c, name] of classes.entries()) {
        await mkdir(path.join(data, split, name), { recursive: true });
        await writeFile(path.join(data, split, name, `${c}.png`), await image(8, 8, c, 'png'));
      }
    }
    await writeFile(path.join(data, 'val', 'zebra', 'extra.png'), await image(8, 8, 3, 'png'));
    const trainClasses = ['ant', 'cat', 'dog'];
    // The val split's zebra images would be dropped in silence: refused, with the class and its image count.
    const e = await t.throwsAsync(loadImageFolder(path.join(data, 'val'), { size: 8, classNames: trainClasses, allowEmptyClasses: true }), { instanceOf: DataError });
    t.is(e!.code, 'ERR_DATA_LABEL_OUT_OF_RANGE');
    t.is(e!.file, path.join(data, 'val'));
    t.regex(e!.message, /zebra \(2 images\) are not among the 3 classes the model knows: ant, cat, dog/);
    const viaTraining = await t.throwsAsync(loadTrainingData('folder', { root: data, imageSize: 8 }), { instanceOf: DataError });
    t.regex(viaTraining!.message, /zebra/);
    // Without zebra, val lacks ant: allowed, and its labels follow the training split's order (cat = 1, dog = 2).
    await rm(path.join(data, 'val', 'zebra'), { recursive: true });
    const { train, test: val, numClasses } = await loadTrainingData('folder', { root: data, imageSize: 8 });
    t.is(numClasses, 3);
    t.is(train.length, 3);
    t.deepEqual([...(val as ImageFolderDataset).labels], [1, 2]);
    // Evaluation with the model's stored class names: the same alignment, even though the folder alone has 2 classes.
    const evalData = await loadTrainingData('folder', { root: data, imageSize: 8, testOnly: true, classNames: trainClasses });
    t.is(evalData.numClasses, 3);
    t.deepEqual([...(evalData.test as ImageFolderDataset).labels], [1, 2]);
    // A class list given by hand still needs images for each class unless told otherwise.
    await t.throwsAsync(loadImageFolder(path.join(data, 'val'), { size: 8, classNames: trainClasses }), { instanceOf: DataError, message: /no .* images for class\(es\) ant/ });
  } finally {
    await rm(data, { recursive: true, force: true });
  }
});
