/**
 * SVHN format 2 reader (`train_32x32.mat`, `test_32x32.mat`, `extra_32x32.mat`).
 *
 * @module
 */
import * as path from 'node:path';
import { InMemoryDataset } from './dataset.js';
import { DataError } from './errors.js';
import { readDataFile } from './read-file.js';
import { readMat } from './mat.js';
import { findDir } from './cifar.js';
import { missingDatasetError, DATASET_SOURCES } from './sources.js';

/**
 * SVHN class names: label `d` is the digit `d` (the files' label 10 is digit 0, mapped to 0).
 *
 * @category Data
 */
export const SVHN_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/**
 * Options of {@link loadSvhn}.
 *
 * @category Data
 */
export interface SvhnOptions {
  /** `train` (73,257), `test` (26,032) or `extra` (531,131). Default `train`. */
  split?: 'train' | 'test' | 'extra';
}

/**
 * Decodes an SVHN `.mat` file already in memory. X (H×W×3×N uint8, column-major) is transposed to CHW
 * **in place** inside `buf` (no second copy of the pixels, which matters for the 1.6 GB extra set);
 * y (N doubles, 1..10) becomes labels 0..9 with 10 → 0.
 * @param buf - the file bytes (modified)
 * @param file - name for errors
 * @param name - name of the returned data set
 * @throws DataError `ERR_DATA_BAD_FORMAT` (bad header, missing X/y, wrong shapes/classes), `ERR_DATA_TRUNCATED`, `ERR_DATA_LABEL_OUT_OF_RANGE` naming the record.
 */
export function parseSvhnMat(buf: Uint8Array, file: string, name = 'svhn'): InMemoryDataset {
  const vars = readMat(buf, file, { only: ['X', 'y'] });
  const X = vars.get('X');
  const y = vars.get('y');
  if (!X || !y) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `expected variables X and y, found ${[...vars.keys()].join(', ') || 'none'}`, { file });
  }
  if (!(X.real instanceof Uint8Array) || X.className !== 'uint8') {
    throw new DataError('ERR_DATA_BAD_FORMAT', `X must be a uint8 array stored as bytes, got class ${X.className}`, { file });
  }
  const dims = X.dims.length === 3 ? [...X.dims, 1] : X.dims;
  if (dims.length !== 4 || dims[2] !== 3) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `X has dimensions ${X.dims.join('x')}, expected HxWx3xN`, { file });
  }
  const [H, W, C, N] = dims as [number, number, number, number];
  if (y.real.length !== N) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `y has ${y.real.length} labels for ${N} images`, { file });
  }
  const labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const v = y.real[i]!;
    if (!Number.isInteger(v) || v < 1 || v > 10) {
      throw new DataError('ERR_DATA_LABEL_OUT_OF_RANGE', `label ${v} out of range 1..10`, { file, index: i });
    }
    labels[i] = v === 10 ? 0 : v;
  }
  const pixels = X.real;
  const plane = H * W;
  const tmp = new Uint8Array(plane);
  for (let p = 0; p < N * C; p++) {
    const off = p * plane;
    tmp.set(pixels.subarray(off, off + plane));
    // column-major (h fastest) → row-major (w fastest)
    for (let w = 0; w < W; w++) {
      const src = w * H;
      for (let h = 0; h < H; h++) pixels[off + h * W + w] = tmp[src + h]!;
    }
  }
  return new InMemoryDataset({ name, numClasses: 10, classNames: SVHN_CLASSES, channels: C, height: H, width: W, pixels, labels });
}

/**
 * Reads one split of SVHN format 2 (MAT v5, compressed or not).
 * @param root - a folder with the `.mat` files, or a data root holding `svhn/`
 * @returns a 3×32×32 in-memory data set named `svhn-<split>`
 * @throws DataError `ERR_DATA_NOT_FOUND` (listing where it looked and how to download) and the errors of the MAT reader (`ERR_DATA_BAD_FORMAT`, `ERR_DATA_TRUNCATED`, `ERR_DATA_LABEL_OUT_OF_RANGE`).
 *
 * @category Data
 */
export async function loadSvhn(root: string, opts: SvhnOptions = {}): Promise<InMemoryDataset> {
  const split = opts.split ?? 'train';
  const f = `${split}_32x32.mat`;
  const candidates = [root, path.join(root, DATASET_SOURCES.svhn.subdir)];
  const dir = await findDir(candidates, [f]);
  if (!dir) throw missingDatasetError(split === 'extra' ? 'svhn-extra' : 'svhn', root, candidates.map((d) => path.resolve(d, f)));
  const file = path.join(dir, f);
  return parseSvhnMat(await readDataFile(file), file, `svhn-${split}`);
}
