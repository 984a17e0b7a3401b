/**
 * Image-folder data sets: `root/<class name>/**.{jpg,jpeg,png}`, decoded lazily with sharp to RGB.
 *
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { Metadata, OutputInfo } from 'sharp';
import { loadSharp, type Sharp } from '../internal/sharp.js';
import { InMemoryDataset, type DatasetInfo, type Sample, checkIndex } from './dataset.js';
import { DataError, checkArg } from './errors.js';
import { centerCropBox, type CropBox } from './augment.js';

/**
 * Options of {@link loadImageFolder}.
 *
 * @category Data
 */
export interface ImageFolderOptions {
  /** Output size: `n` for n×n or `[height, width]`. Default 224. */
  size?: number | [number, number];
  /**
   * Evaluation transform: scale the shorter side to this many pixels, then take the centered output-size crop.
   * Default `round(size * 256 / 224)` (ImageNet's 256 → 224); pass the output size itself for no margin.
   */
  evalResize?: number;
  /** File extensions to accept (case-insensitive). Default `.jpg`, `.jpeg`, `.png`. */
  extensions?: readonly string[];
  /**
   * Use exactly these class folders, in this order (label = index). Default: every subfolder, sorted by code point.
   * A subfolder with images that is not in the list is an error (`ERR_DATA_LABEL_OUT_OF_RANGE`, naming it), never dropped.
   */
  classNames?: readonly string[];
  /** Allow classes of `classNames` without images (an evaluation split may lack some training classes). Default false. */
  allowEmptyClasses?: boolean;
  /** Name of the data set. Default: the folder's base name. */
  name?: string;
}

/** sharp, imported on first use: readers of CIFAR/SVHN/MNIST work even where sharp's native binary cannot load. */
async function getSharp(file: string, index: number): Promise<Sharp> {
  try {
    return await loadSharp();
  } catch (e) {
    throw new DataError('ERR_DATA_UNDECODABLE_IMAGE', `the image decoder (sharp) could not be loaded: ${(e as Error).message}`, { file, index, cause: e });
  }
}

/** The file index behind an {@link ImageFolderDataset}. */
export interface ImageFolderIndex {
  /** Absolute image paths. */
  files: string[];
  /** Label per file. */
  labels: Int32Array;
  /** Cached source sizes, [w0, h0, w1, h1, ...]; 0 = not read yet. */
  dims: Int32Array;
}
type FolderData = ImageFolderIndex;

/**
 * A lazily decoded image folder. Unlike {@link Dataset} its `get` is asynchronous (sharp decodes in libuv's
 * thread pool, so the loader decodes many images in parallel). Samples come out as RGB uint8 CHW at
 * `height`×`width`.
 *
 * @category Data
 */
export class ImageFolderDataset implements DatasetInfo {
  /** {@inheritDoc DatasetInfo.name} */
  readonly name: string;
  /** {@inheritDoc DatasetInfo.length} */
  readonly length: number;
  /** {@inheritDoc DatasetInfo.numClasses} */
  readonly numClasses: number;
  /** Class (folder) names, index = label. */
  readonly classNames: readonly string[];
  /** Always 3 (RGB; grayscale and alpha images are converted). */
  readonly channels = 3;
  /** Output height. */
  readonly height: number;
  /** Output width. */
  readonly width: number;
  /** Shorter-side size of the evaluation transform (see {@link ImageFolderOptions.evalResize}). */
  readonly evalResize: number;
  /** Discriminator used by the loader. */
  readonly kind = 'image-folder';
  private readonly d: FolderData;

  /** @internal use {@link loadImageFolder} */
  constructor(name: string, classNames: readonly string[], height: number, width: number, evalResize: number, data: FolderData) {
    this.name = name;
    this.classNames = classNames;
    this.numClasses = classNames.length;
    this.height = height;
    this.width = width;
    this.evalResize = evalResize;
    this.d = data;
    this.length = data.files.length;
  }

  /** Absolute path of every image, index = sample index. */
  get files(): readonly string[] {
    return this.d.files;
  }

  /** Label of every image. */
  get labels(): Int32Array {
    return this.d.labels;
  }

  /**
   * Width and height of source image `i` (read from its header once, then cached).
   * @throws DataError `ERR_DATA_UNDECODABLE_IMAGE` naming the file and sample index.
   */
  async sourceSize(i: number): Promise<[number, number]> {
    checkIndex(i, this.length, this.name);
    const d = this.d.dims;
    if (d[2 * i] === 0) {
      const file = this.d.files[i]!;
      const sharp = await getSharp(file, i);
      let meta: Metadata;
      try {
        meta = await sharp(file, { failOn: 'error' }).metadata();
      } catch (e) {
        throw new DataError('ERR_DATA_UNDECODABLE_IMAGE', `cannot decode image: ${(e as Error).message}`, { file, index: i, cause: e });
      }
      if (!meta.width || !meta.height) throw new DataError('ERR_DATA_UNDECODABLE_IMAGE', 'image has no size', { file, index: i });
      d[2 * i] = meta.width;
      d[2 * i + 1] = meta.height;
    }
    return [d[2 * i]!, d[2 * i + 1]!];
  }

  /**
   * Decodes image `i`, crops `box` (in source pixels; computed from the source size when a function) and
   * resizes it to `height`×`width`.
   * @returns RGB uint8 CHW pixels
   * @throws DataError `ERR_DATA_UNDECODABLE_IMAGE` naming the file and sample index.
   */
  async loadCropped(i: number, box: CropBox | ((width: number, height: number) => CropBox)): Promise<Uint8Array> {
    const [w0, h0] = await this.sourceSize(i);
    const b = typeof box === 'function' ? box(w0, h0) : box;
    const file = this.d.files[i]!;
    const sharp = await getSharp(file, i);
    let data: Buffer;
    let info: OutputInfo;
    try {
      ({ data, info } = await sharp(file, { failOn: 'error' })
        .extract({ left: b.left, top: b.top, width: b.width, height: b.height })
        .resize(this.width, this.height, { fit: 'fill' })
        .toColourspace('srgb')
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true }));
    } catch (e) {
      throw new DataError('ERR_DATA_UNDECODABLE_IMAGE', `cannot decode image: ${(e as Error).message}`, { file, index: i, cause: e });
    }
    const hw = this.width * this.height;
    const C = info.channels;
    if (info.width !== this.width || info.height !== this.height || C < 1 || data.length !== hw * C) {
      throw new DataError('ERR_DATA_UNDECODABLE_IMAGE', `decoder returned ${info.width}x${info.height}x${C}`, { file, index: i });
    }
    const out = new Uint8Array(3 * hw);
    for (let c = 0; c < 3; c++) {
      const sc = Math.min(c, C - 1); // grayscale → replicate
      const o = c * hw;
      for (let p = 0; p < hw; p++) out[o + p] = data[p * C + sc]!;
    }
    return out;
  }

  /** Sample `i` with the evaluation transform (shorter side → `evalResize`, center crop). */
  async get(i: number): Promise<Sample> {
    const pixels = await this.loadCropped(i, (w, h) => centerCropBox(w, h, this.height, this.width, this.evalResize));
    return { pixels, label: this.d.labels[i]! };
  }

  /** A view of the samples at `indices` (source sizes already read are carried over). */
  subset(indices: Int32Array, name = this.name): ImageFolderDataset {
    const files: string[] = [];
    const labels = new Int32Array(indices.length);
    const dims = new Int32Array(2 * indices.length);
    indices.forEach((j, k) => {
      checkIndex(j, this.length, this.name);
      files.push(this.d.files[j]!);
      labels[k] = this.d.labels[j]!;
      dims[2 * k] = this.d.dims[2 * j]!;
      dims[2 * k + 1] = this.d.dims[2 * j + 1]!;
    });
    return new ImageFolderDataset(name, this.classNames, this.height, this.width, this.evalResize, { files, labels, dims });
  }

  /**
   * Decodes every image with the evaluation transform into an {@link InMemoryDataset} — for small folders
   * (e.g. 32×32 images), after which the fast in-memory path and crop/flip augmentation apply.
   * @param concurrency - decodes in flight (default 16)
   */
  async toInMemory(concurrency = 16): Promise<InMemoryDataset> {
    const size = 3 * this.height * this.width;
    const pixels = new Uint8Array(this.length * size);
    let next = 0;
    const worker = async () => {
      while (next < this.length) {
        const i = next++;
        pixels.set((await this.get(i)).pixels, i * size);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, this.length)) }, worker));
    return new InMemoryDataset({
      name: this.name,
      numClasses: this.numClasses,
      classNames: this.classNames,
      channels: 3,
      height: this.height,
      width: this.width,
      pixels,
      labels: this.d.labels.slice(),
    });
  }
}

async function walk(dir: string, exts: Set<string>, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      await walk(p, exts, out);
      continue;
    }
    if (!exts.has(path.extname(e.name).toLowerCase())) continue;
    // An image name on a FIFO, socket or device (or a link to one) is refused now: reading it
    // later could block forever.
    const regular = e.isFile() || (e.isSymbolicLink() && (await stat(p).then((st) => st.isFile(), () => false)));
    if (!regular) {
      const kind = e.isFIFO() ? 'a FIFO' : e.isSocket() ? 'a socket' : e.isSymbolicLink() ? 'a link to something that is not a regular file' : 'a device or other special file';
      throw new DataError('ERR_DATA_BAD_FORMAT', `${p} is ${kind}, not an image file; remove it from the image folder`, { file: p });
    }
    out.push(p);
  }
}

/**
 * With a fixed class list (an evaluation split, or a model's classes), a subfolder outside the list that
 * holds images would be silently dropped; refuse it instead, naming each such class and its image count.
 */
async function refuseUnknownClasses(root: string, classNames: readonly string[], exts: Set<string>): Promise<void> {
  const known = new Set(classNames);
  const unknown: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory() || known.has(e.name)) continue;
    const found: string[] = [];
    await walk(path.join(root, e.name), exts, found);
    if (found.length > 0) unknown.push(`${e.name} (${found.length} image${found.length === 1 ? '' : 's'})`);
  }
  if (unknown.length === 0) return;
  unknown.sort();
  const shown = classNames.length <= 12 ? `: ${classNames.join(', ')}` : ` (${classNames.slice(0, 12).join(', ')}, ...)`;
  throw new DataError(
    'ERR_DATA_LABEL_OUT_OF_RANGE',
    `class folder(s) ${unknown.join(', ')} are not among the ${classNames.length} classes the model knows${shown}; ` +
      'add them to the training split (and train again) or move them out of this folder',
    { file: path.resolve(root) },
  );
}

/**
 * Indexes an image folder: one subfolder per class (searched recursively), images decoded on demand.
 * Nothing is decoded here; an undecodable file is reported when it is first read.
 * @param root - the folder holding one subfolder per class
 * @throws DataError `ERR_DATA_NOT_FOUND` when `root` is missing, has no class folders, or a class has no images;
 *   `ERR_DATA_LABEL_OUT_OF_RANGE` when `classNames` is given and a subfolder outside it holds images.
 *
 * @category Data
 */
export async function loadImageFolder(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolderDataset> {
  const size = opts.size ?? 224;
  const [height, width] = typeof size === 'number' ? [size, size] : size;
  checkArg(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0, `size must be positive integers, got ${size}`);
  const evalResize = opts.evalResize ?? Math.round((Math.min(height, width) * 256) / 224);
  checkArg(evalResize >= Math.min(height, width), `evalResize ${evalResize} is smaller than the output size`);
  const exts = new Set((opts.extensions ?? ['.jpg', '.jpeg', '.png']).map((e) => (e.startsWith('.') ? e : `.${e}`).toLowerCase()));
  try {
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new DataError('ERR_DATA_NOT_FOUND', 'image folder not found (expected <root>/<class>/<image>.jpg|png)', { file: path.resolve(root) });
  }
  let classNames: string[];
  if (opts.classNames) classNames = [...opts.classNames];
  else {
    const entries = await readdir(root, { withFileTypes: true });
    classNames = entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  if (classNames.length === 0) {
    throw new DataError('ERR_DATA_NOT_FOUND', 'no class subfolders (expected <root>/<class>/<image>.jpg|png)', { file: path.resolve(root) });
  }
  const files: string[] = [];
  const labels: number[] = [];
  const empty: string[] = [];
  for (let c = 0; c < classNames.length; c++) {
    const found: string[] = [];
    const dir = path.resolve(root, classNames[c]!);
    try {
      await walk(dir, exts, found);
    } catch (e) {
      if (e instanceof DataError) throw e;
      /* missing class folder: reported as empty below */
    }
    if (found.length === 0) empty.push(classNames[c]!);
    for (const f of found) {
      files.push(f);
      labels.push(c);
    }
  }
  if (opts.classNames) await refuseUnknownClasses(root, classNames, exts);
  if (empty.length === classNames.length || (empty.length > 0 && !opts.allowEmptyClasses)) {
    throw new DataError('ERR_DATA_NOT_FOUND', `no ${[...exts].join('/')} images for class(es) ${empty.join(', ')}`, { file: path.resolve(root) });
  }
  return new ImageFolderDataset(opts.name ?? path.basename(path.resolve(root)), classNames, height, width, evalResize, {
    files,
    labels: Int32Array.from(labels),
    dims: new Int32Array(2 * files.length),
  });
}
