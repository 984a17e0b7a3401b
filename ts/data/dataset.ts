/**
 * The `Dataset` abstraction: fixed-shape uint8 CHW images with integer labels.
 *
 * @module
 */
import { DataError, checkArg } from './errors.js';

/**
 * One labelled image.
 *
 * @category Data
 */
export interface Sample {
  /** Pixels, uint8, channel-major (CHW): `channels * height * width` bytes. Often a view into a larger buffer: do not modify. */
  pixels: Uint8Array;
  /** Class index in `[0, numClasses)`. */
  label: number;
}

/**
 * Shape and class facts shared by every data set.
 *
 * @category Data
 */
export interface DatasetInfo {
  /** Short name, e.g. `"cifar10-train"`. */
  readonly name: string;
  /** Number of samples. */
  readonly length: number;
  /** Number of classes; labels are in `[0, numClasses)`. */
  readonly numClasses: number;
  /** Human-readable class names, index = label, when the data set ships them. */
  readonly classNames?: readonly string[];
  /** Channels per image (3 for RGB, 1 for MNIST). */
  readonly channels: number;
  /** Image height in pixels. */
  readonly height: number;
  /** Image width in pixels. */
  readonly width: number;
}

/**
 * A data set with synchronous, random access: every built-in reader except image folders returns one.
 * `get(i)` is O(1) and allocation-light (a view, not a copy).
 *
 * @category Data
 */
export interface Dataset extends DatasetInfo {
  /** Sample `i` (`0 <= i < length`). Throws `DataError('ERR_DATA_INVALID_ARG')` for an index out of range. */
  get(i: number): Sample;
}

/** Bytes per image of a data set: `channels * height * width`. */
export function imageSize(info: DatasetInfo): number {
  return info.channels * info.height * info.width;
}

/**
 * Constructor options of {@link InMemoryDataset}.
 *
 * @category Data
 */
export interface InMemoryDatasetInit {
  /** See {@link DatasetInfo.name}. */
  name: string;
  /** See {@link DatasetInfo.numClasses}. */
  numClasses: number;
  /** See {@link DatasetInfo.classNames}. */
  classNames?: readonly string[];
  /** See {@link DatasetInfo.channels}. */
  channels: number;
  /** See {@link DatasetInfo.height}. */
  height: number;
  /** See {@link DatasetInfo.width}. */
  width: number;
  /** All images back to back: `length * channels * height * width` bytes, each CHW. */
  pixels: Uint8Array;
  /** One label per image, each in `[0, numClasses)`. */
  labels: Int32Array;
}

/**
 * A data set held in two flat arrays: `pixels` (N·C·H·W uint8) and `labels` (N int32).
 * This is what the CIFAR, SVHN and MNIST readers return; the loader reads its arrays directly.
 *
 * @category Data
 */
export class InMemoryDataset implements Dataset {
  /** {@inheritDoc DatasetInfo.name} */
  readonly name: string;
  /** {@inheritDoc DatasetInfo.length} */
  readonly length: number;
  /** {@inheritDoc DatasetInfo.numClasses} */
  readonly numClasses: number;
  /** {@inheritDoc DatasetInfo.classNames} */
  readonly classNames?: readonly string[];
  /** {@inheritDoc DatasetInfo.channels} */
  readonly channels: number;
  /** {@inheritDoc DatasetInfo.height} */
  readonly height: number;
  /** {@inheritDoc DatasetInfo.width} */
  readonly width: number;
  /** All images, `length * channels * height * width` bytes, CHW per image. */
  readonly pixels: Uint8Array;
  /** All labels. */
  readonly labels: Int32Array;
  /** Bytes per image. */
  readonly imageSize: number;

  /**
   * Wraps existing arrays (no copy). Validates the sizes and that every label is in range.
   * @throws DataError `ERR_DATA_INVALID_ARG` on a size mismatch, `ERR_DATA_LABEL_OUT_OF_RANGE` naming the record on a bad label.
   */
  constructor(init: InMemoryDatasetInit) {
    const { name, numClasses, channels, height, width, pixels, labels } = init;
    checkArg(Number.isInteger(numClasses) && numClasses > 0, `numClasses must be a positive integer, got ${numClasses}`);
    checkArg(
      [channels, height, width].every((v) => Number.isInteger(v) && v > 0),
      `channels/height/width must be positive integers, got ${channels}x${height}x${width}`,
    );
    const size = channels * height * width;
    checkArg(
      pixels.length === labels.length * size,
      `${name}: pixels has ${pixels.length} bytes, expected ${labels.length} x ${size}`,
    );
    if (init.classNames !== undefined) {
      checkArg(
        init.classNames.length === numClasses,
        `${name}: ${init.classNames.length} class names for ${numClasses} classes`,
      );
    }
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i]!;
      if (l < 0 || l >= numClasses) {
        throw new DataError('ERR_DATA_LABEL_OUT_OF_RANGE', `label ${l} out of range [0, ${numClasses})`, { file: name, index: i });
      }
    }
    this.name = name;
    this.length = labels.length;
    this.numClasses = numClasses;
    if (init.classNames !== undefined) this.classNames = init.classNames;
    this.channels = channels;
    this.height = height;
    this.width = width;
    this.pixels = pixels;
    this.labels = labels;
    this.imageSize = size;
  }

  /** {@inheritDoc Dataset.get} */
  get(i: number): Sample {
    checkIndex(i, this.length, this.name);
    const s = this.imageSize;
    return { pixels: this.pixels.subarray(i * s, (i + 1) * s), label: this.labels[i]! };
  }
}

/** @internal */
export function checkIndex(i: number, length: number, name: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new DataError('ERR_DATA_INVALID_ARG', `${name}: index ${i} out of range [0, ${length})`);
  }
}

/**
 * A view of selected samples of another data set (no pixel copy). `get(i)` returns `base.get(indices[i])`.
 * Used for train/validation splits.
 *
 * @category Data
 */
export class SubsetDataset<D extends Dataset = Dataset> implements Dataset {
  /** {@inheritDoc DatasetInfo.name} */
  readonly name: string;
  /** {@inheritDoc DatasetInfo.length} */
  readonly length: number;
  /** {@inheritDoc DatasetInfo.numClasses} */
  readonly numClasses: number;
  /** {@inheritDoc DatasetInfo.classNames} */
  readonly classNames?: readonly string[];
  /** {@inheritDoc DatasetInfo.channels} */
  readonly channels: number;
  /** {@inheritDoc DatasetInfo.height} */
  readonly height: number;
  /** {@inheritDoc DatasetInfo.width} */
  readonly width: number;

  /**
   * @param base - the data set to select from
   * @param indices - indices into `base`, each in `[0, base.length)`
   * @param name - name of the view (default `base.name`)
   */
  constructor(
    /** The underlying data set. */
    readonly base: D,
    /** Indices into {@link SubsetDataset.base}. */
    readonly indices: Int32Array,
    name?: string,
  ) {
    for (let i = 0; i < indices.length; i++) checkIndex(indices[i]!, base.length, base.name);
    this.name = name ?? base.name;
    this.length = indices.length;
    this.numClasses = base.numClasses;
    if (base.classNames !== undefined) this.classNames = base.classNames;
    this.channels = base.channels;
    this.height = base.height;
    this.width = base.width;
  }

  /** {@inheritDoc Dataset.get} */
  get(i: number): Sample {
    checkIndex(i, this.length, this.name);
    return this.base.get(this.indices[i]!);
  }
}

/**
 * Concatenates data sets of identical shape and class count (e.g. SVHN train + extra) into one in-memory set.
 * @throws DataError `ERR_DATA_INVALID_ARG` when shapes or class counts differ.
 *
 * @category Data
 */
export function concatDatasets(name: string, parts: readonly Dataset[]): InMemoryDataset {
  checkArg(parts.length > 0, 'concatDatasets needs at least one data set');
  const first = parts[0]!;
  for (const p of parts) {
    checkArg(
      p.channels === first.channels && p.height === first.height && p.width === first.width && p.numClasses === first.numClasses,
      `concatDatasets: ${p.name} is ${p.channels}x${p.height}x${p.width}/${p.numClasses} classes, ` +
        `${first.name} is ${first.channels}x${first.height}x${first.width}/${first.numClasses}`,
    );
  }
  const size = imageSize(first);
  const total = parts.reduce((a, p) => a + p.length, 0);
  const pixels = new Uint8Array(total * size);
  const labels = new Int32Array(total);
  let k = 0;
  for (const p of parts) {
    if (p instanceof InMemoryDataset) {
      pixels.set(p.pixels, k * size);
      labels.set(p.labels, k);
      k += p.length;
    } else {
      for (let i = 0; i < p.length; i++, k++) {
        const s = p.get(i);
        pixels.set(s.pixels, k * size);
        labels[k] = s.label;
      }
    }
  }
  return new InMemoryDataset({
    name,
    numClasses: first.numClasses,
    ...(first.classNames !== undefined ? { classNames: first.classNames } : {}),
    channels: first.channels,
    height: first.height,
    width: first.width,
    pixels,
    labels,
  });
}
