/**
 * Data augmentation: random crop with zero padding and horizontal flip for fixed-size images
 * (CIFAR "+"), random-resized crop for image folders (ImageNet style).
 *
 * @module
 */
import { checkArg } from './errors.js';
import type { Rng } from './rng.js';

/**
 * Random crop with zero padding (see {@link Augmentation.crop}).
 *
 * @category Data
 */
export interface CropAugmentation {
  /** Pixels of padding on each side; the crop offset is uniform in `[-padding, padding]` per axis. */
  padding: number;
  /** `black` (default): pad with pixel value 0 before normalization; `mean`: pad with 0 after normalization. */
  fill?: 'black' | 'mean';
}

/**
 * Ranges of a random-resized crop (see {@link Augmentation.randomResizedCrop}).
 *
 * @category Data
 */
export interface RandomResizedCropOptions {
  /** Range of the crop area as a fraction of the image area. Default `[0.08, 1]`. */
  scale?: [number, number];
  /** Range of the crop aspect ratio (width / height), sampled log-uniformly. Default `[3/4, 4/3]`. */
  ratio?: [number, number];
}

/**
 * What random transforms the loader applies to training images. All fields optional; `{}` = none.
 *
 * @category Data
 */
export interface Augmentation {
  /**
   * Random crop: pad each side with `padding` pixels, then crop back to the original size at a random
   * position (in-memory data sets). `fill: 'black'` (default) pads with pixel value 0 before normalization
   * (torchvision's `RandomCrop(32, padding=4)`); `'mean'` pads with 0 after normalization (the Lua reference).
   */
  crop?: CropAugmentation;
  /** Horizontal flip with probability 0.5. */
  flip?: boolean;
  /**
   * Random-resized crop (image folders only): a random area fraction in `scale` and aspect ratio in `ratio`
   * (log-uniform) of the original image, resized to the output size; torchvision's algorithm (10 tries,
   * then a center crop). `true` = the defaults `scale [0.08, 1]`, `ratio [3/4, 4/3]`.
   */
  randomResizedCrop?: boolean | RandomResizedCropOptions;
}

/**
 * The paper's "+" augmentation for 32×32 sets: random crop with 4 px zero padding + horizontal flip.
 *
 * @category Data
 */
export const CIFAR_AUGMENTATION: Augmentation = Object.freeze({ crop: Object.freeze({ padding: 4 }), flip: true });

/**
 * ImageNet-style training augmentation for image folders: random-resized crop + horizontal flip.
 *
 * @category Data
 */
export const IMAGENET_AUGMENTATION: Augmentation = Object.freeze({ randomResizedCrop: true, flip: true });

/**
 * No augmentation (evaluation, or SVHN/MNIST as in the paper).
 *
 * @category Data
 */
export const NO_AUGMENTATION: Augmentation = Object.freeze({});

/** One sample's concrete transform: output(y, x) = input(y + dy, flip ? W−1−x+dx : x+dx), `fill` outside. */
export interface CropFlip {
  /** Vertical shift (crop window top − padding), in `[-padding, padding]`. */
  dy: number;
  /** Horizontal shift (crop window left − padding), in `[-padding, padding]`. */
  dx: number;
  /** Mirror left-right after the crop. */
  flip: boolean;
}

/**
 * Draws one sample's crop/flip parameters (top offset first, then left, then flip, like torchvision).
 * @param aug - the augmentation (fields other than `crop`/`flip` are ignored)
 * @param rng - random source
 */
export function drawCropFlip(aug: Augmentation, rng: Rng): CropFlip {
  let dy = 0;
  let dx = 0;
  if (aug.crop && aug.crop.padding > 0) {
    const p = aug.crop.padding;
    dy = rng.int(2 * p + 1) - p;
    dx = rng.int(2 * p + 1) - p;
  }
  const flip = aug.flip ? rng.next() < 0.5 : false;
  return { dy, dx, flip };
}

/**
 * Applies a crop/flip to one uint8 CHW image, returning a new image of the same size (padding with `fill`).
 * The loader uses a fused version of exactly this (with normalization); this form is for tests and custom pipelines.
 */
export function cropFlip(pixels: Uint8Array, channels: number, height: number, width: number, t: CropFlip, fill = 0): Uint8Array {
  checkArg(pixels.length === channels * height * width, `image has ${pixels.length} bytes, expected ${channels}x${height}x${width}`);
  const out = new Uint8Array(pixels.length);
  const hw = height * width;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const sy = y + t.dy;
      for (let x = 0; x < width; x++) {
        const sx = t.flip ? width - 1 - x + t.dx : x + t.dx;
        out[c * hw + y * width + x] = sy >= 0 && sy < height && sx >= 0 && sx < width ? pixels[c * hw + sy * width + sx]! : fill;
      }
    }
  }
  return out;
}

/**
 * Writes one image into a float batch: crop/flip and normalization (through a per-channel LUT) in one pass.
 * @param src - uint8 CHW image
 * @param out - the batch tensor
 * @param outOffset - element offset of this sample in `out`
 * @param lut - `channels * 256` floats from `normalizationTable`
 * @param fill - per-channel value for padded pixels (already normalized)
 * @internal
 */
export function writeSample(
  src: Uint8Array,
  C: number,
  H: number,
  W: number,
  out: Float32Array,
  outOffset: number,
  lut: Float32Array,
  fill: Float32Array,
  t: CropFlip,
): void {
  const hw = H * W;
  const { dx, dy, flip } = t;
  if (dx === 0 && dy === 0 && !flip) {
    for (let c = 0; c < C; c++) {
      const l = c * 256;
      const base = c * hw;
      const o = outOffset + base;
      for (let i = 0; i < hw; i++) out[o + i] = lut[l + src[base + i]!]!;
    }
    return;
  }
  // Valid x range of the output row: 0 <= sx < W.
  const x0 = flip ? Math.max(0, dx) : Math.max(0, -dx);
  const x1 = flip ? Math.min(W, W + dx) : Math.min(W, W - dx);
  for (let c = 0; c < C; c++) {
    const l = c * 256;
    const f = fill[c]!;
    const base = c * hw;
    for (let y = 0; y < H; y++) {
      const o = outOffset + base + y * W;
      const sy = y + dy;
      if (sy < 0 || sy >= H) {
        out.fill(f, o, o + W);
        continue;
      }
      const row = base + sy * W;
      for (let x = 0; x < x0; x++) out[o + x] = f;
      if (flip) {
        const s = row + W - 1 + dx;
        for (let x = x0; x < x1; x++) out[o + x] = lut[l + src[s - x]!]!;
      } else {
        const s = row + dx;
        for (let x = x0; x < x1; x++) out[o + x] = lut[l + src[s + x]!]!;
      }
      for (let x = x1; x < W; x++) out[o + x] = f;
    }
  }
}

/**
 * A crop rectangle in source-image pixels.
 *
 * @category Data
 */
export interface CropBox {
  /** Left edge. */
  left: number;
  /** Top edge. */
  top: number;
  /** Width (≥ 1). */
  width: number;
  /** Height (≥ 1). */
  height: number;
}

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 tries of a random area in `scale` × image area and a
 * log-uniform aspect ratio in `ratio`; falls back to a center crop clamped to `ratio`.
 * @param width - source width
 * @param height - source height
 * @param rng - random source
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = width * height;
  const logR = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const ar = Math.exp(rng.uniform(logR[0], logR[1]));
    const w = Math.round(Math.sqrt(target * ar));
    const h = Math.round(Math.sqrt(target / ar));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(...ratio)) {
    w = width;
    h = Math.round(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    h = height;
    w = Math.round(h * Math.max(...ratio));
  } else {
    w = width;
    h = height;
  }
  w = Math.max(1, Math.min(w, width));
  h = Math.max(1, Math.min(h, height));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * The evaluation crop in source pixels: scale the shorter side to `resize`, take the centered `outH`×`outW`
 * window (torchvision `Resize(resize)` + `CenterCrop`), expressed in source coordinates.
 */
export function centerCropBox(width: number, height: number, outH: number, outW: number, resize: number): CropBox {
  const s = resize / Math.min(width, height);
  const w = Math.max(1, Math.min(width, Math.round(outW / s)));
  const h = Math.max(1, Math.min(height, Math.round(outH / s)));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}
