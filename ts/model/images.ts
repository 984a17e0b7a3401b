/**
 * Image decoding for prediction: {@link imagesToTensor} turns files or encoded buffers into one
 * normalized NCHW float32 batch with sharp (loaded on first use), as the data pipeline's
 * evaluation transform does.
 *
 * @module
 */
import { existsSync } from 'node:fs';

import type { OutputInfo } from 'sharp';

import { centerCropBox, type CropBox } from '../data/augment.js';
import { NORMALIZATION } from '../data/normalize.js';
import { ImageError, InvalidArgumentError, IoError, throwIfAborted } from '../errors.js';
import { loadSharp } from '../internal/sharp.js';
import { checkPositiveInt, checkSignal, checkSize, typeName } from '../internal/validate.js';

/**
 * Image preprocessing of {@link DenseNet.predictImages} and {@link imagesToTensor}.
 *
 * @category Model
 */
export interface ImageOptions {
  /**
   * The network's input: `n` for a square n×n crop or `[height, width]` (default: the model's
   * stored {@link Preprocessing.inputSize}, else 32 for `smallInputs` models and 224 otherwise).
   */
  size?: number | readonly [height: number, width: number];
  /**
   * Length of the shorter side after resizing, before the center crop (default: the smallest size
   * that covers `size`; torchvision's ImageNet evaluation uses 256 for 224).
   */
  resize?: number;
  /** Per-channel mean subtracted after scaling pixels to [0, 1] (default: the stored preprocessing, else CIFAR or ImageNet statistics for 3 channels, 0 for 1). */
  mean?: readonly number[];
  /** Per-channel std divided by (default: the stored preprocessing, else CIFAR or ImageNet statistics for 3 channels, 1 for 1). */
  std?: readonly number[];
  /** Channels to decode to: 3 (RGB) or 1 (grayscale). {@link DenseNet.predictImages} uses the model's `inChannels`. */
  channels?: number;
}

/**
 * Options of {@link imagesToTensor}.
 *
 * @category Model
 */
export interface ImagesToTensorOptions extends ImageOptions {
  /** Stops decoding (between images); the promise rejects with an {@link AbortError}. */
  signal?: AbortSignal;
}

/**
 * A decoded, normalized batch of images.
 *
 * @category Model
 */
export interface ImageTensor {
  /** NCHW float32 data. */
  data: Float32Array;
  /** `[n, c, height, width]`. */
  shape: [n: number, c: number, h: number, w: number];
}

/** ImageNet per-channel mean (RGB), used by torchvision's pretrained DenseNets. @internal */
export const IMAGENET_MEAN: readonly number[] = NORMALIZATION.imagenet.mean;
/** ImageNet per-channel std (RGB). @internal */
export const IMAGENET_STD: readonly number[] = NORMALIZATION.imagenet.std;
/** CIFAR-10 per-channel mean (RGB) of the reference training code. @internal */
export const CIFAR_MEAN: readonly number[] = NORMALIZATION.cifar10.mean;
/** CIFAR-10 per-channel std (RGB) of the reference training code. @internal */
export const CIFAR_STD: readonly number[] = NORMALIZATION.cifar10.std;

function channelStats(
  name: 'mean' | 'std',
  given: readonly number[] | undefined,
  fallback: readonly number[],
  channels: number,
): number[] {
  const v = given ?? fallback;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new InvalidArgumentError(`${name} must be an array of finite numbers, got ${typeName(v)}`);
  }
  const arr = v.length === 1 ? Array(channels).fill(v[0]) : [...v];
  if (arr.length !== channels) {
    throw new InvalidArgumentError(`${name} must have 1 or ${channels} values, got ${v.length}`);
  }
  if (name === 'std' && arr.some((x) => x <= 0)) throw new InvalidArgumentError(`std values must be > 0, got [${arr.join(', ')}]`);
  return arr;
}

/** The batch tensor of imagesToTensor; a size too large to allocate is an InvalidArgumentError naming `size`. */
function allocateBatch(n: number, c: number, h: number, w: number): Float32Array {
  const elements = n * c * h * w;
  const what = `size ${h}x${w} for ${n} image${n === 1 ? '' : 's'} of ${c} channel${c === 1 ? '' : 's'} needs a tensor of ${elements} floats (${(elements * 4 / 2 ** 30).toFixed(1)} GiB)`;
  try {
    return new Float32Array(elements);
  } catch (err) {
    throw new InvalidArgumentError(`${what}, more than can be allocated: choose a smaller size or fewer images`, { cause: err });
  }
}

/**
 * Decodes images with sharp into one normalized NCHW float32 batch: EXIF orientation applied,
 * alpha dropped, converted to RGB (or grayscale), the centered window that a resize (the shorter
 * side to `resize`, or by default just enough to cover `size`) and a center crop to `size` would
 * keep, resized to `size`; pixels scaled to [0, 1], then `(x - mean) / std` per channel. This is
 * the data pipeline's evaluation transform. sharp is loaded on the first call.
 *
 * @param images - file paths or encoded image buffers (PNG, JPEG, WebP, ...)
 * @param options - size, resize, mean, std, channels (defaults: 224, ImageNet statistics, 3 channels), signal
 * @throws {@link IoError} for a missing file; {@link ImageError} for an undecodable image (or when
 *   sharp cannot be loaded); {@link AbortError} when `signal` fires
 *
 * @category Model
 */
export async function imagesToTensor(
  images: readonly (string | Uint8Array)[],
  options: ImagesToTensorOptions = {},
): Promise<ImageTensor> {
  if (!Array.isArray(images) || images.length === 0) {
    throw new InvalidArgumentError('images must be a non-empty array of file paths or Buffers');
  }
  const signal = checkSignal(options.signal);
  const [h, w] = checkSize(options.size ?? 224);
  const resize = options.resize === undefined ? undefined : checkPositiveInt('resize', options.resize);
  if (resize !== undefined && resize < Math.max(h, w)) {
    throw new InvalidArgumentError(`resize (${resize}) must be >= the crop size (${Math.max(h, w)})`);
  }
  const c = options.channels ?? 3;
  if (c !== 1 && c !== 3) throw new InvalidArgumentError(`channels must be 1 or 3, got ${String(c)}`);
  const mean = channelStats('mean', options.mean, c === 3 ? IMAGENET_MEAN : [0], c);
  const std = channelStats('std', options.std, c === 3 ? IMAGENET_STD : [1], c);
  throwIfAborted(signal, 'imagesToTensor');
  let sharp: Awaited<ReturnType<typeof loadSharp>>;
  try {
    sharp = await loadSharp();
  } catch (err) {
    throw new ImageError(`the image decoder (sharp) could not be loaded: ${(err as Error).message}`, { cause: err });
  }

  const plane = h * w;
  const data = allocateBatch(images.length, c, h, w);
  for (let n = 0; n < images.length; n++) {
    throwIfAborted(signal, 'imagesToTensor');
    const src = images[n];
    const label = typeof src === 'string' ? src : `images[${n}] (buffer)`;
    if (typeof src === 'string') {
      if (!existsSync(src)) throw new IoError(`image file not found: ${src}`);
    } else if (!(src instanceof Uint8Array)) {
      throw new InvalidArgumentError(`images[${n}] must be a file path or a Buffer, got ${typeName(src)}`);
    }
    let pixels: Buffer;
    let info: OutputInfo;
    try {
      // Decode (EXIF orientation applied, alpha dropped, RGB or grayscale), then crop the
      // centered window in source pixels and resize it to h×w — the evaluation transform of the
      // data pipeline (torchvision's Resize + CenterCrop), so predictions match evaluation.
      let pipe = sharp(src, { failOn: 'error' }).rotate().removeAlpha();
      pipe = c === 3 ? pipe.toColourspace('srgb') : pipe.toColourspace('b-w');
      const decoded = await pipe.raw().toBuffer({ resolveWithObject: true });
      const { width: w0, height: h0, channels: c0 } = decoded.info;
      const box = resize === undefined ? coverCropBox(w0, h0, h, w) : centerCropBox(w0, h0, h, w, resize);
      ({ data: pixels, info } = await sharp(decoded.data, { raw: { width: w0, height: h0, channels: c0 } })
        .extract(box)
        .resize(w, h, { fit: 'fill' })
        .raw()
        .toBuffer({ resolveWithObject: true }));
    } catch (err) {
      throw new ImageError(`cannot decode image ${label}: ${(err as Error).message}`, { cause: err });
    }
    const { width, height, channels } = info;
    if (width !== w || height !== h || channels < c) {
      throw new ImageError(`image ${label} decoded to ${width}x${height}x${channels}, expected ${w}x${h}x${c}`);
    }
    const x0 = 0;
    const y0 = 0;
    const base = n * c * plane;
    for (let ch = 0; ch < c; ch++) {
      const m = mean[ch]!;
      const s = std[ch]!;
      const out = base + ch * plane;
      for (let y = 0; y < h; y++) {
        const row = ((y0 + y) * width + x0) * channels + ch;
        for (let x = 0; x < w; x++) {
          data[out + y * w + x] = (pixels[row + x * channels]! / 255 - m) / s;
        }
      }
    }
  }
  return { data, shape: [images.length, c, h, w] };
}

/** The largest centered window of a `width`×`height` image with the aspect ratio of `outH`×`outW` (scale to cover, then center-crop). */
function coverCropBox(width: number, height: number, outH: number, outW: number): CropBox {
  const s = Math.max(outW / width, outH / height);
  const w = Math.max(1, Math.min(width, Math.round(outW / s)));
  const h = Math.max(1, Math.min(height, Math.round(outH / s)));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}
