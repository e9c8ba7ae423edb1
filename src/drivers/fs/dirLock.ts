import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../../errors.ts';
import { processAlive } from '../../shared/processAlive.ts';

/** Name of the lock file in a store directory. */
export const LOCK_FILE = '.lock';

/** A held directory lock. */
export interface DirLock {
  /** Removes the lock file, if it is still this lock's (never one another store has taken over since). */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  hostname: string;
  since: string;
  /** Random per acquisition: tells this lock from a later one taken by the same process. */
  token?: string;
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid === 'number' && typeof owner.hostname === 'string') return owner as LockOwner;
  } catch {
    // missing or unreadable: treated as no owner
  }
  return undefined;
}

/**
 * Takes the directory for this process. The filesystem driver keeps its revision and expiry index in
 * memory, so two processes writing one directory could both pass a compare-and-set; this lock makes the
 * second one fail loudly instead. A lock left by a process that died (kill -9) is taken over; a lock
 * from another host is never guessed about and must be removed by hand.
 */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  const token = randomBytes(8).toString('hex');
  const me: LockOwner = { pid: process.pid, hostname: hostname(), since: new Date().toISOString(), token };
  // Written aside and hard-linked into place: the lock file appears atomically with its content.
  const temp = join(dir, `${LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temp, JSON.stringify(me));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        return { release: () => releaseIfOwned(path, token) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
      }
      const owner = await readOwner(path);
      const stale =
        owner === undefined ||
        (owner.hostname === me.hostname && (owner.pid === process.pid || !processAlive(owner.pid)));
      if (!stale) {
        throw new UnavailableError(
          `store directory ${dir} is in use by process ${owner.pid} on ${owner.hostname}: the filesystem driver allows one process per directory (use the SQLite or PostgreSQL driver to share a store between processes; remove ${path} only if that process is gone)`,
          { dir, lockFile: path, pid: owner.pid, hostname: owner.hostname },
        );
      }
      await unlink(path).catch(() => {});
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
}

// A lock taken over in the meantime (a second store of this process on the same directory) stays in place.
async function releaseIfOwned(path: string, token: string): Promise<void> {
  if ((await readOwner(path))?.token !== token) return;
  await unlink(path).catch(() => {});
}
