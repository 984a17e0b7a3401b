/**
 * The batch pipeline: seeded shuffling, augmentation, normalization and prefetching, as an async iterator
 * of NCHW float32 batches.
 *
 * @module
 */
import type { Dataset } from './dataset.js';
import { DataError, checkArg } from './errors.js';
import { Rng } from './rng.js';
import { resolveNormalization, normalizationTable, type Normalization, type NormalizationName } from './normalize.js';
import { drawCropFlip, writeSample, randomResizedCropBox, centerCropBox, type Augmentation, type CropFlip } from './augment.js';
import type { ImageFolderDataset } from './image-folder.js';

/**
 * One batch, ready for `trainStep`/`evalStep`.
 *
 * @category Data
 */
export interface Batch {
  /** Images, N·C·H·W float32, normalized. */
  images: Float32Array;
  /** `[N, C, H, W]`. */
  shape: [number, number, number, number];
  /** Labels, N int32. */
  labels: Int32Array;
  /** Index of each image in the data set the loader reads. */
  indices: Int32Array;
  /** Epoch this batch belongs to. */
  epoch: number;
  /** Position of this batch in its epoch (0-based). */
  index: number;
  /** Images of the whole batch over all ranks, when the loader is sharded (see {@link LoaderOptions.shard}). */
  globalSize?: number;
}

/**
 * One rank's share of every batch in data-parallel training.
 *
 * @category Data
 */
export interface LoaderShard {
  /** This rank, `0..size-1`. */
  rank: number;
  /** Number of ranks. */
  size: number;
}

/**
 * Where a loader stands: enough to resume the exact same batches (order and augmentation). JSON-serializable.
 *
 * @category Data
 */
export interface LoaderState {
  /** The loader's seed. */
  seed: number | string;
  /** Epoch of the next batch. */
  epoch: number;
  /** Index (within `epoch`) of the next batch. */
  batch: number;
}

/**
 * Options of {@link DataLoader}.
 *
 * @category Data
 */
export interface LoaderOptions {
  /** Images per batch. Default 64. */
  batchSize?: number;
  /** Reshuffle every epoch (seeded). Default `true`. Use `false` for evaluation. */
  shuffle?: boolean;
  /** Seed of the order and of the augmentation. Default 0. */
  seed?: number | string;
  /** Training augmentation, e.g. `CIFAR_AUGMENTATION`. Default none. */
  augment?: Augmentation;
  /** Normalization preset or values; `null` = only scale to [0, 1]. Default `null`. */
  normalization?: Normalization | NormalizationName | null;
  /** Drop the last, smaller batch of an epoch. Default `false`. */
  dropLast?: boolean;
  /** Batches prepared ahead of the consumer. Default 2; 0 prepares on demand. */
  prefetch?: number;
  /** Resume from a saved {@link LoaderState} (its seed must match `seed`). */
  resume?: LoaderState;
  /**
   * Data-parallel shard: of each batch of `batchSize` (the global batch, in the one seeded order),
   * only this rank's contiguous share, samples ⌊rank·N/size⌋ to ⌊(rank+1)·N/size⌋, is built, with
   * the augmentation it has in the whole batch. Default: the whole batch.
   */
  shard?: LoaderShard;
}

const ORDER_KEY = 0x4f524452; // "ORDR"
const AUG_KEY = 0x41554721; // "AUG!"

/**
 * What a {@link DataLoader} reads: an in-memory data set (or a view of one) or an image folder.
 *
 * @category Data
 */
export type LoaderSource = Dataset | ImageFolderDataset;
type Source = LoaderSource;

/**
 * The samples `[lo, hi)` of a batch of `n` that a rank takes: contiguous, sizes differing by at
 * most one, in rank order.
 *
 * @param n - images in the whole batch
 * @param shard - the rank and the number of ranks
 *
 * @category Data
 */
export function shardRange(n: number, shard: LoaderShard): [number, number] {
  return [Math.floor((shard.rank * n) / shard.size), Math.floor(((shard.rank + 1) * n) / shard.size)];
}

function isFolder(ds: Source): ds is ImageFolderDataset {
  return (ds as ImageFolderDataset).kind === 'image-folder';
}

/**
 * Yields normalized, augmented NCHW float32 batches from a data set, in a seeded order that depends only on
 * `(seed, epoch)`; each batch's augmentation depends only on `(seed, epoch, batch index)`. So `state()` saved
 * in a checkpoint restores the exact same stream, whatever the prefetch depth or timing.
 *
 * While the consumer awaits something else (a training step running in native code), the loader prepares the
 * next `prefetch` batches on the event loop (in-memory sets) or in libuv's thread pool (image folders).
 *
 * @example
 * ```ts
 * const loader = new DataLoader(train, { batchSize: 64, seed: 1, augment: CIFAR_AUGMENTATION, normalization: 'cifar10' });
 * for (let e = 0; e < 300; e++) {
 *   for await (const b of loader) await model.trainStep(b.images, b.shape, b.labels);
 *   saveCheckpoint(JSON.stringify(loader.state()));
 * }
 * ```
 *
 * @category Data
 */
export class DataLoader implements AsyncIterable<Batch> {
  /** The data set read. */
  readonly dataset: Source;
  /** Images per batch. */
  readonly batchSize: number;
  /** Whether every epoch is reshuffled. */
  readonly shuffle: boolean;
  /** Seed of order and augmentation. */
  readonly seed: number | string;
  /** The augmentation applied. */
  readonly augment: Augmentation;
  /** The normalization applied (`null`: scaled to [0, 1] only). */
  readonly normalization: Normalization | null;
  /** Whether a last partial batch is dropped. */
  readonly dropLast: boolean;
  /** This rank's share of each batch (null: the whole batch). */
  readonly shard: LoaderShard | null;
  /** Prefetch depth. */
  readonly prefetch: number;
  private epochNo: number;
  private batchNo: number;
  private readonly lut: Float32Array;
  private readonly fill: Float32Array;
  private readonly inFlight = new Set<{ done: boolean }>();

  /**
   * @param dataset - an in-memory data set, a view of one, or an image folder
   * @param opts - see {@link LoaderOptions}
   * @throws DataError `ERR_DATA_INVALID_ARG` for bad options (augmentation not applicable to the data set, etc.)
   */
  constructor(dataset: Source, opts: LoaderOptions = {}) {
    this.dataset = dataset;
    this.batchSize = opts.batchSize ?? 64;
    checkArg(Number.isInteger(this.batchSize) && this.batchSize > 0, `batchSize must be a positive integer, got ${this.batchSize}`);
    checkArg(dataset.length > 0, `${dataset.name} is empty`);
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.augment = opts.augment ?? {};
    this.dropLast = opts.dropLast ?? false;
    this.shard = opts.shard ?? null;
    if (this.shard) {
      const { rank, size } = this.shard;
      checkArg(Number.isInteger(size) && size >= 1 && Number.isInteger(rank) && rank >= 0 && rank < size, `shard must be {rank, size} with 0 <= rank < size, got ${JSON.stringify(this.shard)}`);
    }
    this.prefetch = opts.prefetch ?? 2;
    checkArg(Number.isInteger(this.prefetch) && this.prefetch >= 0, `prefetch must be an integer >= 0, got ${this.prefetch}`);
    const n = opts.normalization ?? null;
    this.normalization = n === null ? null : resolveNormalization(n, dataset.channels);
    const a = this.augment;
    if (a.crop) {
      checkArg(Number.isInteger(a.crop.padding) && a.crop.padding >= 0, `crop padding must be an integer >= 0, got ${a.crop.padding}`);
      checkArg(!isFolder(dataset), 'crop-with-padding augmentation needs an in-memory data set (use randomResizedCrop, or toInMemory())');
    }
    checkArg(!a.randomResizedCrop || isFolder(dataset), 'randomResizedCrop applies to image folders only (use crop for in-memory sets)');
    checkArg(this.dropLast ? dataset.length >= this.batchSize : true, `dropLast with batchSize ${this.batchSize} > ${dataset.length} samples yields nothing`);
    this.lut = normalizationTable(dataset, this.normalization);
    this.fill = new Float32Array(dataset.channels);
    for (let c = 0; c < dataset.channels; c++) this.fill[c] = a.crop?.fill === 'mean' ? 0 : this.lut[c * 256]!;
    this.epochNo = 0;
    this.batchNo = 0;
    if (opts.resume) this.restore(opts.resume);
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Batches prepared and waiting for the consumer right now (a diagnostic of prefetching). */
  get ready(): number {
    let n = 0;
    for (const e of this.inFlight) if (e.done) n++;
    return n;
  }

  /** The position of the next batch; store it in checkpoints. */
  state(): LoaderState {
    return { seed: this.seed, epoch: this.epochNo, batch: this.batchNo };
  }

  /**
   * Moves to a saved position.
   * @throws DataError `ERR_DATA_INVALID_ARG` if the state's seed differs or the position is out of range.
   */
  restore(state: LoaderState): void {
    checkArg(state.seed === this.seed, `loader state has seed ${JSON.stringify(state.seed)}, this loader ${JSON.stringify(this.seed)}`);
    checkArg(Number.isInteger(state.epoch) && state.epoch >= 0, `bad epoch ${state.epoch}`);
    checkArg(Number.isInteger(state.batch) && state.batch >= 0 && state.batch <= this.batchesPerEpoch, `bad batch ${state.batch}`);
    // A position at the very end of an epoch is the start of the next one.
    const atEnd = state.batch >= this.batchesPerEpoch;
    this.epochNo = atEnd ? state.epoch + 1 : state.epoch;
    this.batchNo = atEnd ? 0 : state.batch;
  }

  /** The sample order of `epoch` (indices into the data set): a seeded permutation, or `0..n-1` without shuffling. */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (!this.shuffle) {
      const o = new Int32Array(n);
      for (let i = 0; i < n; i++) o[i] = i;
      return o;
    }
    return new Rng(this.seed, ORDER_KEY, epoch).permutation(n);
  }

  /**
   * Iterates the rest of the current epoch (from `state()`), then advances to the next epoch, so
   * `for await (const b of loader)` once per epoch walks epoch after epoch.
   */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.run(this.epochNo, this.batchNo, true);
  }

  /** Iterates one given epoch from its first batch, without touching the loader's position. */
  epoch(epoch: number): AsyncIterableIterator<Batch> {
    checkArg(Number.isInteger(epoch) && epoch >= 0, `bad epoch ${epoch}`);
    return this.run(epoch, 0, false);
  }

  /**
   * Builds batch `index` of `epoch` directly (no prefetch). In-memory sets build synchronously inside the
   * returned promise's executor; image folders decode in parallel.
   */
  buildBatch(epoch: number, index: number): Promise<Batch> {
    checkArg(Number.isInteger(index) && index >= 0 && index < this.batchesPerEpoch, `batch ${index} out of range [0, ${this.batchesPerEpoch})`);
    const order = this.order(epoch);
    return this.build(order, epoch, index);
  }

  private async *run(epoch: number, start: number, track: boolean): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const total = this.batchesPerEpoch;
    const queue: { promise: Promise<Batch>; done: boolean }[] = [];
    let next = start;
    const schedule = (ahead: number) => {
      while (queue.length < ahead && next < total) {
        const entry = { promise: this.build(order, epoch, next++, true), done: false };
        entry.promise.then(
          () => (entry.done = true),
          () => undefined, // observed when awaited; avoids an unhandled rejection if the consumer stops early
        );
        queue.push(entry);
        this.inFlight.add(entry);
      }
    };
    try {
      schedule(Math.max(1, this.prefetch));
      while (queue.length > 0) {
        const entry = queue.shift()!;
        this.inFlight.delete(entry);
        const batch = await entry.promise;
        if (track) {
          this.epochNo = epoch;
          this.batchNo = batch.index + 1;
          if (this.batchNo >= total) {
            this.epochNo = epoch + 1;
            this.batchNo = 0;
          }
        }
        // Start the next batches now, so they are built while the consumer works on this one.
        if (this.prefetch > 0) schedule(this.prefetch);
        yield batch;
        if (this.prefetch === 0) schedule(1);
      }
    } finally {
      // Batches prepared but never consumed are dropped; the position stays after the last one yielded.
      for (const e of queue) this.inFlight.delete(e);
    }
  }

  private build(order: Int32Array, epoch: number, index: number, deferred = false): Promise<Batch> {
    const ds = this.dataset;
    const start = index * this.batchSize;
    const end = Math.min(order.length, start + this.batchSize);
    const all = order.slice(start, end);
    const [lo, hi] = this.shard ? shardRange(all.length, this.shard) : [0, all.length];
    const finish = (b: Batch): Batch => (this.shard ? { ...b, globalSize: all.length } : b);
    if (isFolder(ds)) return this.buildFolder(ds, all, epoch, index, lo, hi).then(finish);
    const make = () => finish(this.buildMemory(ds, all, epoch, index, lo, hi));
    if (!deferred) return new Promise((resolve) => resolve(make()));
    // setImmediate: run when the event loop is idle (e.g. while the consumer awaits a native training step).
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(make());
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  private buildMemory(ds: Dataset, all: Int32Array, epoch: number, index: number, lo: number, hi: number): Batch {
    const { channels: C, height: H, width: W } = ds;
    const indices = all.subarray(lo, hi);
    const N = hi - lo;
    const size = C * H * W;
    const images = new Float32Array(N * size);
    const labels = new Int32Array(N);
    const rng = new Rng(this.seed, AUG_KEY, epoch, index);
    const none: CropFlip = { dx: 0, dy: 0, flip: false };
    const augmenting = !!(this.augment.crop || this.augment.flip);
    // The draws run over the whole batch (a shard takes its samples' own draws).
    for (let j = 0; j < hi; j++) {
      const t = augmenting ? drawCropFlip(this.augment, rng) : none;
      if (j < lo) continue;
      const s = ds.get(all[j]!);
      labels[j - lo] = s.label;
      writeSample(s.pixels, C, H, W, images, (j - lo) * size, this.lut, this.fill, t);
    }
    return { images, shape: [N, C, H, W], labels, indices: indices.slice(), epoch, index };
  }

  private async buildFolder(ds: ImageFolderDataset, all: Int32Array, epoch: number, index: number, lo: number, hi: number): Promise<Batch> {
    const { channels: C, height: H, width: W } = ds;
    const indices = all.slice(lo, hi);
    const N = indices.length;
    const size = C * H * W;
    const a = this.augment;
    const rrc = a.randomResizedCrop;
    const scale = typeof rrc === 'object' && rrc.scale ? rrc.scale : ([0.08, 1] as [number, number]);
    const ratio = typeof rrc === 'object' && rrc.ratio ? rrc.ratio : ([3 / 4, 4 / 3] as [number, number]);
    const images = new Float32Array(N * size);
    const labels = new Int32Array(N);
    await Promise.all(
      Array.from(indices, async (i, j) => {
        // One stream per sample: the draws do not depend on decode order or image sizes of other samples.
        const rng = new Rng(this.seed, AUG_KEY, epoch, index, j + lo);
        const pixels = await ds.loadCropped(i, (w, h) =>
          rrc ? randomResizedCropBox(w, h, rng, scale, ratio) : centerCropBox(w, h, H, W, ds.evalResize),
        );
        const t: CropFlip = { dx: 0, dy: 0, flip: a.flip ? rng.next() < 0.5 : false };
        labels[j] = ds.labels[i]!;
        writeSample(pixels, C, H, W, images, j * size, this.lut, this.fill, t);
      }),
    );
    return { images, shape: [N, C, H, W], labels, indices, epoch, index };
  }
}

/**
 * Checks that a value parsed from a checkpoint is a {@link LoaderState}.
 * @throws DataError `ERR_DATA_INVALID_ARG` otherwise
 */
export function assertLoaderState(x: unknown): asserts x is LoaderState {
  const s = x as LoaderState;
  if (!s || (typeof s.seed !== 'number' && typeof s.seed !== 'string') || !Number.isInteger(s.epoch) || !Number.isInteger(s.batch)) {
    throw new DataError('ERR_DATA_INVALID_ARG', `not a loader state: ${JSON.stringify(x)}`);
  }
}
