import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options of `writeFileAtomic`. */
export interface AtomicWriteOptions {
  /** fsync the file and its directory (default true). Off only for data you can afford to lose. */
  durable?: boolean;
  /** File mode of a new file (default 0o644). */
  mode?: number;
}

/**
 * Replaces `path` with `data` so that a crash at any moment leaves either the old or the new content:
 * write a temp file in the same directory, fsync it, rename it over the target (atomic on POSIX), then
 * fsync the directory so the rename itself survives a power loss. `data` may be a list of chunks, written
 * with one writev: a large file assembled from cached parts is then never copied into one buffer.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  const durable = options.durable ?? true;
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    else await writeChunks(handle, data);
    if (durable) await handle.sync();
  } catch (error) {
    // Cleanup after a failed write: the write's error is the one thrown; the temp file's own cleanup
    // failing (the disk that failed the write) adds nothing the caller can act on.
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {}); // as above: the rename's error is the one thrown
    throw error;
  }
  if (durable) await fsyncDirectory(dir);
}

async function writeChunks(handle: FileHandle, chunks: readonly Uint8Array[]): Promise<void> {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  const { bytesWritten } = await handle.writev(chunks as Uint8Array[]);
  // writev may write less than asked (signals, odd filesystems): finish with the plain path.
  if (bytesWritten < total) await handle.write(Buffer.concat(chunks).subarray(bytesWritten));
}

/** fsyncs a directory so that entries created or renamed in it are durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves an unreadable file aside (`<name>.corrupt-<time>`) instead of overwriting it, and returns the
 * new path, so no stored byte is ever lost to a "reset to empty".
 */
export async function quarantineFile(path: string, now: number = Date.now()): Promise<string> {
  const aside = `${path}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  await rename(path, aside);
  // The file is aside either way; a failed directory fsync only risks a crash undoing the rename, which
  // leaves the corrupt file where it was: nothing is lost, so the quarantine does not fail for it.
  await fsyncDirectory(dirname(path)).catch(() => {});
  return aside;
}
