/**
 * Downloading the public data sets: fetch, verify the published MD5, rename into place, extract.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, rmdir, stat, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DataError } from './errors.js';
import { readDataFile } from './read-file.js';
import { boundedGunzip } from './inflate.js';
import { abortErrorFor, throwIfAborted } from '../errors.js';
import { readTar } from './tar.js';
import { DATASET_SOURCES, DATASET_MD5, type DownloadableDataset } from './sources.js';


/**
 * Progress of one file, reported by {@link DownloadOptions.onProgress}.
 *
 * @category Data
 */
export interface DownloadProgress {
  /** File name being fetched. */
  file: string;
  /** Bytes received so far. */
  received: number;
  /** Total bytes, when the server sent `Content-Length`. */
  total?: number;
}

/**
 * Options of {@link downloadDataset}.
 *
 * @category Data
 */
export interface DownloadOptions {
  /** Fetch `${baseUrl}/${file}` instead of the official URL (a mirror, or a loopback server in tests). */
  baseUrl?: string;
  /** Expected MD5 per file name, overriding the published ones in `DATASET_MD5` (tests, mirrors of re-packed files). */
  md5?: Readonly<Record<string, string>>;
  /** Called as bytes arrive. */
  onProgress?: (p: DownloadProgress) => void;
  /** Download and extract again even if the data are already there. Default `false`. */
  force?: boolean;
  /** Keep the `.tar.gz` after extracting it. Default `true` (a later run re-extracts without downloading). */
  keepArchive?: boolean;
  /** The `fetch` implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Cancels the download: the promise rejects with an `AbortError` and no partial file is left behind. */
  signal?: AbortSignal;
}

/**
 * What {@link downloadDataset} did.
 *
 * @category Data
 */
export interface DownloadResult {
  /** The data set. */
  dataset: DownloadableDataset;
  /** Folder holding the data files, ready for the reader (e.g. `<root>/cifar-10-batches-bin`). */
  dir: string;
  /** Files fetched over the network in this call (absolute paths). */
  downloaded: string[];
  /** `true` when everything was already present and nothing was done. */
  alreadyPresent: boolean;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** MD5 (hex) of a file, streamed. */
export async function md5File(file: string): Promise<string> {
  const h = createHash('md5');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** Creates `dir` (recursively) and returns the directories that did not exist before, deepest last. */
async function mkdirTracked(dir: string): Promise<string[]> {
  const created: string[] = [];
  let d = path.resolve(dir);
  while (!(await exists(d))) {
    created.unshift(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  await mkdir(dir, { recursive: true });
  return created;
}

async function removeIfEmpty(dirs: string[]): Promise<void> {
  for (const d of [...dirs].reverse()) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
  }
}

/**
 * Fetches `url` to `dest`: streams into a temporary file next to it while computing the MD5, and renames it
 * into place only when the MD5 equals `md5`. On any failure the temporary file is deleted.
 * @throws DataError `ERR_DATA_DOWNLOAD_FAILED` (HTTP status or network error), `ERR_DATA_CHECKSUM_MISMATCH`;
 *   `AbortError` when `opts.signal` fires.
 */
export async function downloadFile(url: string, dest: string, md5: string, opts: DownloadOptions = {}): Promise<void> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const tmp = `${dest}.${randomBytes(6).toString('hex')}.part`;
  const file = path.basename(dest);
  const signal = opts.signal;
  throwIfAborted(signal, `downloading ${url}`);
  let res: Response;
  try {
    res = await doFetch(url, signal ? { signal } : {});
  } catch (e) {
    if (signal?.aborted) throw abortErrorFor(`downloading ${url}`, signal);
    throw new DataError('ERR_DATA_DOWNLOAD_FAILED', `cannot fetch: ${(e as Error).message}`, { file: url, cause: e });
  }
  if (!res.ok || !res.body) {
    throw new DataError('ERR_DATA_DOWNLOAD_FAILED', `HTTP ${res.status} ${res.statusText}`, { file: url });
  }
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader !== null ? Number(lenHeader) : undefined;
  const hash = createHash('md5');
  let received = 0;
  const fh = await open(tmp, 'w');
  let ok = false;
  try {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        throwIfAborted(signal, `downloading ${url}`);
        hash.update(chunk);
        received += chunk.length;
        await fh.write(chunk);
        opts.onProgress?.({ file, received, ...(total !== undefined ? { total } : {}) });
      }
    } catch (e) {
      if (signal?.aborted) throw abortErrorFor(`downloading ${url}`, signal);
      throw new DataError('ERR_DATA_DOWNLOAD_FAILED', `transfer interrupted after ${received} bytes: ${(e as Error).message}`, { file: url, cause: e });
    }
    await fh.sync();
    await fh.close();
    if (total !== undefined && received !== total) {
      throw new DataError('ERR_DATA_DOWNLOAD_FAILED', `received ${received} of ${total} bytes`, { file: url });
    }
    const got = hash.digest('hex');
    if (got !== md5.toLowerCase()) {
      throw new DataError('ERR_DATA_CHECKSUM_MISMATCH', `MD5 ${got} does not match the expected ${md5} (${received} bytes); file discarded`, { file: url });
    }
    await rename(tmp, dest);
    ok = true;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  }
}

/** Resolves `name` inside `root`, refusing absolute paths and `..` (tar path traversal). */
function safeJoin(root: string, name: string, archive: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return undefined;
  if (name.startsWith('/') || parts.includes('..') || /^[A-Za-z]:/.test(name)) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `archive member ${JSON.stringify(name)} escapes the target folder`, { file: archive });
  }
  return path.join(root, ...parts);
}

/**
 * Extracts a `.tar.gz` into `root`. Members are written into a temporary folder first and the top-level
 * entries renamed into place at the end, so an interrupted extraction never leaves a half-written data set.
 * @returns the top-level names extracted
 * @throws DataError `ERR_DATA_TRUNCATED` / `ERR_DATA_BAD_FORMAT` for a damaged archive, or a member path escaping `root`.
 */
export async function extractTarGz(archive: string, root: string, force = true): Promise<string[]> {
  const tar: Uint8Array = boundedGunzip(await readDataFile(archive), archive);
  const entries = readTar(tar, archive);
  const staging = path.join(root, `.extract-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  try {
    for (const e of entries) {
      const target = safeJoin(staging, e.name, archive);
      if (!target) continue;
      if (e.type === 'directory') await mkdir(target, { recursive: true });
      else if (e.type === 'file') {
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(target, e.data);
      }
    }
    const tops = await readdir(staging);
    for (const t of tops) {
      const dest = path.join(root, t);
      if (await exists(dest)) {
        if (!force) continue;
        await rm(dest, { recursive: true, force: true });
      }
      await rename(path.join(staging, t), dest);
    }
    return tops;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Downloads a public data set into `root`, verifies the published MD5 of every file, and extracts tarballs.
 *
 * Layout under `root`: `cifar-10-batches-bin/` (cifar10), `cifar-10-batches-py/` (cifar10-python),
 * `cifar-100-binary/` (cifar100), `svhn/{train,test,extra}_32x32.mat` (svhn, svhn-extra); the `.tar.gz`
 * archives stay in `root` unless `keepArchive: false`. Files already present are not fetched again
 * (an existing archive whose MD5 matches is just re-extracted).
 *
 * @param name - which data set
 * @param root - the data root
 * @param opts - mirror URL, MD5 overrides, progress callback, ...
 * @throws DataError `ERR_DATA_INVALID_ARG` (unknown name), `ERR_DATA_DOWNLOAD_FAILED`, `ERR_DATA_CHECKSUM_MISMATCH` (nothing is left behind), `ERR_DATA_BAD_FORMAT`/`ERR_DATA_TRUNCATED` (damaged archive);
 *   `AbortError` when `opts.signal` fires (nothing partial is left behind).
 *
 * @category Data
 */
export async function downloadDataset(name: DownloadableDataset, root: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const src = DATASET_SOURCES[name];
  if (!src) {
    throw new DataError('ERR_DATA_INVALID_ARG', `unknown data set ${JSON.stringify(name)}; downloadable: ${Object.keys(DATASET_SOURCES).join(', ')}`);
  }
  const rootAbs = path.resolve(root);
  const dir = path.join(rootAbs, src.subdir);
  const present = async () => {
    for (const f of src.expect) if (!(await exists(path.join(dir, f)))) return false;
    return true;
  };
  throwIfAborted(opts.signal, `downloading ${name}`);
  if (!opts.force && (await present())) return { dataset: name, dir, downloaded: [], alreadyPresent: true };

  const downloadDir = path.join(rootAbs, src.downloadSubdir);
  const created = await mkdirTracked(downloadDir);
  const downloaded: string[] = [];
  try {
    for (const f of src.files) {
      throwIfAborted(opts.signal, `downloading ${name}`);
      const md5 = opts.md5?.[f.file] ?? DATASET_MD5[f.file] ?? f.md5;
      const dest = path.join(downloadDir, f.file);
      const reuse = !opts.force && (await exists(dest)) && (await md5File(dest)) === md5.toLowerCase();
      if (!reuse) {
        const url = opts.baseUrl ? `${opts.baseUrl.replace(/\/+$/, '')}/${f.file}` : f.url;
        await downloadFile(url, dest, md5, opts);
        downloaded.push(dest);
      }
      if (f.extract) {
        await extractTarGz(dest, rootAbs, true);
        if (opts.keepArchive === false) await rm(dest, { force: true });
      }
    }
  } catch (e) {
    await removeIfEmpty(created);
    throw e;
  }
  if (!(await present())) {
    throw new DataError('ERR_DATA_BAD_FORMAT', `download finished but ${src.expect.map((f) => path.join(dir, f)).join(', ')} are not all present`, { file: dir });
  }
  return { dataset: name, dir, downloaded, alreadyPresent: false };
}
