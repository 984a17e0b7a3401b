/**
 * CIFAR-10 (binary and python versions) and CIFAR-100 (binary) readers.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { InMemoryDataset } from './dataset.js';
import { DataError } from './errors.js';
import { readDataFile } from './read-file.js';
import { unpickle, pyGet, type PyValue, type NdArray } from './pickle.js';
import { boundedGunzip } from './inflate.js';
import { readTar } from './tar.js';
import { missingDatasetError, DATASET_SOURCES } from './sources.js';

/**
 * Which part of a data set to read.
 *
 * @category Data
 */
export type TrainTest = 'train' | 'test';

/**
 * The ten CIFAR-10 class names, index = label.
 *
 * @category Data
 */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
]);

const PIXELS = 3072;

/** Decoded images and labels of one file. */
export interface LabelledPixels {
  /** N·3072 bytes, CHW per image. */
  pixels: Uint8Array;
  /** N labels. */
  labels: Int32Array;
}

/** Options of {@link parseCifarBinary}. */
export interface CifarBinaryFormat {
  /** Bytes per record: 3073 for CIFAR-10, 3074 for CIFAR-100. */
  recordSize: number;
  /** Offset of the label byte used in the record (CIFAR-100: 0 = coarse, 1 = fine). */
  labelOffset: number;
  /** Labels must be in `[0, numClasses)`. */
  numClasses: number;
}

/**
 * Parses fixed-size CIFAR binary records (label byte(s) + 3,072 pixel bytes, already CHW) into `out`.
 * @param buf - file contents
 * @param file - file name for errors
 * @param fmt - record layout
 * @returns pixels (N·3072) and labels (N)
 * @throws DataError `ERR_DATA_BAD_RECORD_SIZE` (naming the truncated record) when the size is not a multiple of the
 *   record size, `ERR_DATA_TRUNCATED` for an empty file, `ERR_DATA_LABEL_OUT_OF_RANGE` naming the record.
 */
export function parseCifarBinary(buf: Uint8Array, file: string, fmt: CifarBinaryFormat): LabelledPixels {
  const { recordSize, labelOffset, numClasses } = fmt;
  if (buf.length === 0) throw new DataError('ERR_DATA_TRUNCATED', 'file is empty', { file });
  if (buf.length % recordSize !== 0) {
    const n = Math.floor(buf.length / recordSize);
    throw new DataError(
      'ERR_DATA_BAD_RECORD_SIZE',
      `size ${buf.length} is not a multiple of the ${recordSize}-byte record: record ${n} is truncated ` +
        `(${buf.length - n * recordSize} of ${recordSize} bytes)`,
      { file, index: n },
    );
  }
  const n = buf.length / recordSize;
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  const head = recordSize - PIXELS;
  for (let i = 0; i < n; i++) {
    const off = i * recordSize;
    const label = buf[off + labelOffset]!;
    if (label >= numClasses) {
      throw new DataError('ERR_DATA_LABEL_OUT_OF_RANGE', `label ${label} out of range [0, ${numClasses})`, { file, index: i });
    }
    labels[i] = label;
    pixels.set(buf.subarray(off + head, off + recordSize), i * PIXELS);
  }
  return { pixels, labels };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Returns the first candidate folder that holds all `files`, or undefined. @internal */
export async function findDir(candidates: readonly string[], files: readonly string[]): Promise<string | undefined> {
  for (const dir of candidates) {
    let ok = true;
    for (const f of files) if (!(await exists(path.join(dir, f)))) ok = false;
    if (ok) return dir;
  }
  return undefined;
}

async function readNames(file: string): Promise<string[] | undefined> {
  try {
    const t = await readFile(file, 'utf8');
    return t
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

function concat(parts: { pixels: Uint8Array; labels: Int32Array }[]): LabelledPixels {
  if (parts.length === 1) return parts[0]!;
  const n = parts.reduce((a, p) => a + p.labels.length, 0);
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let k = 0;
  for (const p of parts) {
    pixels.set(p.pixels, k * PIXELS);
    labels.set(p.labels, k);
    k += p.labels.length;
  }
  return { pixels, labels };
}

/**
 * Options of {@link loadCifar10}.
 *
 * @category Data
 */
export interface Cifar10Options {
  /** `train` (data_batch_1..5, 50,000 images) or `test` (test_batch, 10,000). Default `train`. */
  split?: TrainTest;
}

/**
 * Reads the CIFAR-10 binary version: `data_batch_1.bin`…`data_batch_5.bin` (train) or `test_batch.bin` (test),
 * 3,073-byte records; class names from `batches.meta.txt` (the built-in list if absent).
 * @param root - the `cifar-10-batches-bin` folder, or a data root that contains it
 * @returns a 3×32×32 in-memory data set named `cifar10-train` / `cifar10-test`
 * @throws DataError `ERR_DATA_NOT_FOUND` listing where it looked and how to download; file-level errors of the binary reader (`ERR_DATA_BAD_RECORD_SIZE`, `ERR_DATA_LABEL_OUT_OF_RANGE`).
 *
 * @category Data
 */
export async function loadCifar10(root: string, opts: Cifar10Options = {}): Promise<InMemoryDataset> {
  const split = opts.split ?? 'train';
  const files = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const candidates = [root, path.join(root, DATASET_SOURCES.cifar10.subdir)];
  const dir = await findDir(candidates, files);
  if (!dir) throw missingDatasetError('cifar10', root, candidates.map((d) => path.resolve(d, files[0]!)));
  const parts = [];
  for (const f of files) {
    const file = path.join(dir, f);
    parts.push(parseCifarBinary(await readDataFile(file), file, { recordSize: 3073, labelOffset: 0, numClasses: 10 }));
  }
  const { pixels, labels } = concat(parts);
  const names = await readNames(path.join(dir, 'batches.meta.txt'));
  return new InMemoryDataset({
    name: `cifar10-${split}`,
    numClasses: 10,
    classNames: names && names.length === 10 ? names : CIFAR10_CLASSES,
    channels: 3,
    height: 32,
    width: 32,
    pixels,
    labels,
  });
}

/**
 * Options of {@link loadCifar100}.
 *
 * @category Data
 */
export interface Cifar100Options {
  /** `train` (`train.bin`, 50,000) or `test` (`test.bin`, 10,000). Default `train`. */
  split?: TrainTest;
  /** `fine` (100 classes, default) or `coarse` (20 superclasses). */
  labels?: 'fine' | 'coarse';
}

/**
 * Reads the CIFAR-100 binary version: 3,074-byte records (coarse label, fine label, 3,072 pixels).
 * Class names come from `fine_label_names.txt` / `coarse_label_names.txt` when present.
 * @param root - the `cifar-100-binary` folder, or a data root that contains it
 * @returns a 3×32×32 in-memory data set named `cifar100-train` / `cifar100-test` (`-coarse` appended for coarse labels)
 * @throws DataError `ERR_DATA_NOT_FOUND`, `ERR_DATA_BAD_RECORD_SIZE`, `ERR_DATA_TRUNCATED`, `ERR_DATA_LABEL_OUT_OF_RANGE` (file and record named)
 *
 * @category Data
 */
export async function loadCifar100(root: string, opts: Cifar100Options = {}): Promise<InMemoryDataset> {
  const split = opts.split ?? 'train';
  const kind = opts.labels ?? 'fine';
  const f = split === 'train' ? 'train.bin' : 'test.bin';
  const candidates = [root, path.join(root, DATASET_SOURCES.cifar100.subdir)];
  const dir = await findDir(candidates, [f]);
  if (!dir) throw missingDatasetError('cifar100', root, candidates.map((d) => path.resolve(d, f)));
  const numClasses = kind === 'fine' ? 100 : 20;
  const file = path.join(dir, f);
  const { pixels, labels } = parseCifarBinary(await readDataFile(file), file, {
    recordSize: 3074,
    labelOffset: kind === 'fine' ? 1 : 0,
    numClasses,
  });
  const names = await readNames(path.join(dir, `${kind}_label_names.txt`));
  return new InMemoryDataset({
    name: `cifar100-${split}${kind === 'coarse' ? '-coarse' : ''}`,
    numClasses,
    ...(names && names.length === numClasses ? { classNames: names } : {}),
    channels: 3,
    height: 32,
    width: 32,
    pixels,
    labels,
  });
}

function toInts(v: PyValue | undefined, what: string, file: string): Int32Array {
  if (Array.isArray(v)) {
    const out = new Int32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x !== 'number' || !Number.isInteger(x)) {
        throw new DataError('ERR_DATA_BAD_FORMAT', `${what}[${i}] is ${typeof x}, expected an integer`, { file, index: i });
      }
      out[i] = x;
    }
    return out;
  }
  if (v && typeof v === 'object' && (v as NdArray).kind === 'ndarray') {
    const a = v as NdArray;
    const dv = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    const m = /^([<>|])([iu])([1248])$/.exec(a.dtype);
    if (!m) throw new DataError('ERR_DATA_BAD_FORMAT', `${what} has dtype ${a.dtype}, expected integers`, { file });
    const le = m[1] !== '>';
    const size = Number(m[3]);
    const n = a.data.length / size;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * size;
      out[i] =
        size === 1
          ? m[2] === 'i'
            ? dv.getInt8(o)
            : dv.getUint8(o)
          : size === 2
            ? m[2] === 'i'
              ? dv.getInt16(o, le)
              : dv.getUint16(o, le)
            : size === 4
              ? dv.getInt32(o, le)
              : Number(dv.getBigInt64(o, le));
    }
    return out;
  }
  throw new DataError('ERR_DATA_BAD_FORMAT', `missing or malformed ${what}`, { file });
}

/**
 * Decodes one unpickled CIFAR python batch (`{b'data': uint8[N, 3072], b'labels': [N ints]}`; CIFAR-100's
 * `fine_labels`/`coarse_labels` are accepted too, via `labelKey`).
 * @param batch - the unpickled dict
 * @param file - name for errors
 * @param numClasses - labels must be in `[0, numClasses)`
 * @param labelKey - dict key of the labels (default `labels`)
 * @throws DataError `ERR_DATA_BAD_FORMAT` on a wrong dtype/shape, `ERR_DATA_LABEL_OUT_OF_RANGE` naming the record.
 */
export function decodeCifarPythonBatch(
  batch: PyValue,
  file: string,
  numClasses = 10,
  labelKey = 'labels',
): LabelledPixels {
  const data = pyGet(batch, 'data');
  if (!data || typeof data !== 'object' || (data as NdArray).kind !== 'ndarray') {
    throw new DataError('ERR_DATA_BAD_FORMAT', `batch has no numpy 'data' array (keys: ${batch instanceof Map ? [...batch.keys()].join(', ') : typeof batch})`, { file });
  }
  const arr = data as NdArray;
  if (arr.dtype !== '|u1' || arr.shape.length !== 2 || arr.shape[1] !== PIXELS) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `'data' is ${arr.dtype} [${arr.shape.join(', ')}], expected |u1 [N, ${PIXELS}]`, { file });
  }
  const n = arr.shape[0]!;
  if (arr.data.length !== n * PIXELS) {
    throw new DataError('ERR_DATA_TRUNCATED', `'data' holds ${arr.data.length} bytes, shape needs ${n * PIXELS}`, { file, index: Math.floor(arr.data.length / PIXELS) });
  }
  let pixels: Uint8Array;
  if (arr.fortranOrder) {
    pixels = new Uint8Array(n * PIXELS);
    for (let j = 0; j < PIXELS; j++) for (let i = 0; i < n; i++) pixels[i * PIXELS + j] = arr.data[j * n + i]!;
  } else {
    pixels = arr.data.slice(); // do not keep the whole pickle/archive buffer alive
  }
  const labels = toInts(pyGet(batch, labelKey), labelKey, file);
  if (labels.length !== n) throw new DataError('ERR_DATA_BAD_FORMAT', `${labels.length} labels for ${n} images`, { file });
  for (let i = 0; i < n; i++) {
    if (labels[i]! < 0 || labels[i]! >= numClasses) {
      throw new DataError('ERR_DATA_LABEL_OUT_OF_RANGE', `label ${labels[i]} out of range [0, ${numClasses})`, { file, index: i });
    }
  }
  return { pixels, labels };
}

function classNamesFromMeta(meta: PyValue): string[] | undefined {
  const names = pyGet(meta, 'label_names');
  if (!Array.isArray(names)) return undefined;
  return names.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
}

/**
 * Reads the CIFAR-10 python version, either straight from `cifar-10-python.tar.gz` (no extraction needed)
 * or from the extracted `cifar-10-batches-py` folder (pickles `data_batch_1`…`data_batch_5`, `test_batch`, `batches.meta`).
 * @param source - the `.tar.gz`, the `cifar-10-batches-py` folder, or a data root holding either
 * @returns a 3×32×32 in-memory data set named `cifar10-train` / `cifar10-test`
 * @throws DataError `ERR_DATA_NOT_FOUND`, archive/pickle format errors (`ERR_DATA_BAD_FORMAT`, `ERR_DATA_TRUNCATED`), `ERR_DATA_LABEL_OUT_OF_RANGE`.
 *
 * @category Data
 */
export async function loadCifar10Python(source: string, opts: Cifar10Options = {}): Promise<InMemoryDataset> {
  const split = opts.split ?? 'train';
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}`) : ['test_batch'];
  const src = DATASET_SOURCES['cifar10-python'];
  const archiveName = src.files[0]!.file;
  let st: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    st = await stat(source);
  } catch {
    st = undefined;
  }
  const parts: LabelledPixels[] = [];
  let classNames: string[] | undefined;

  let archive: string | undefined;
  if (st?.isFile()) archive = source;
  else if (st?.isDirectory()) {
    const dir = await findDir([source, path.join(source, src.subdir)], names);
    if (dir) {
      for (const n of names) {
        const file = path.join(dir, n);
        parts.push(decodeCifarPythonBatch(unpickle(await readDataFile(file), file), file));
      }
      try {
        const metaFile = path.join(dir, 'batches.meta');
        classNames = classNamesFromMeta(unpickle(await readDataFile(metaFile), metaFile));
      } catch {
        classNames = undefined;
      }
    } else if (await exists(path.join(source, archiveName))) {
      archive = path.join(source, archiveName);
    }
  }
  if (archive) {
    const tarBytes: Uint8Array = boundedGunzip(await readDataFile(archive), archive);
    const entries = readTar(tarBytes, archive);
    const byBase = new Map(entries.filter((e) => e.type === 'file').map((e) => [path.posix.basename(e.name), e] as const));
    for (const n of names) {
      const e = byBase.get(n);
      if (!e) throw new DataError('ERR_DATA_BAD_FORMAT', `archive has no member named */${n}`, { file: archive });
      const where = `${archive}:${e.name}`;
      parts.push(decodeCifarPythonBatch(unpickle(e.data, where), where));
    }
    const meta = byBase.get('batches.meta');
    if (meta) {
      try {
        classNames = classNamesFromMeta(unpickle(meta.data, `${archive}:${meta.name}`));
      } catch {
        classNames = undefined;
      }
    }
  }
  if (parts.length === 0) {
    throw missingDatasetError('cifar10-python', source, [
      path.resolve(source, archiveName),
      path.resolve(source, src.subdir, names[0]!),
      path.resolve(source, names[0]!),
    ]);
  }
  const { pixels, labels } = concat(parts);
  return new InMemoryDataset({
    name: `cifar10-${split}`,
    numClasses: 10,
    classNames: classNames && classNames.length === 10 ? classNames : CIFAR10_CLASSES,
    channels: 3,
    height: 32,
    width: 32,
    pixels,
    labels,
  });
}
