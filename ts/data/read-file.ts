/**
 * Reading a data file whole, with every failure typed and naming the file: a directory or a
 * special file where a data file should be (a FIFO would block `readFile` for ever) is a
 * `DataError`, an unreadable file an `IoError`.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';

import { IoError } from '../errors.js';
import { DataError } from './errors.js';

/** What a non-regular file is, in words. */
function kindOf(st: Awaited<ReturnType<typeof stat>>): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * The bytes of `file`.
 *
 * @throws `DataError` (`ERR_DATA_NOT_FOUND` when it does not exist, `ERR_DATA_BAD_FORMAT` when it
 *   is a directory or a special file), `IoError` when it cannot be read (EACCES, EIO, ...)
 * @internal
 */
export async function readDataFile(file: string): Promise<Buffer> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new DataError('ERR_DATA_NOT_FOUND', 'no such file', { file, cause: e });
    throw new IoError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isFile()) throw new DataError('ERR_DATA_BAD_FORMAT', `is ${kindOf(st)}, expected a data file`, { file });
  try {
    return await readFile(file);
  } catch (e) {
    throw new IoError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}
