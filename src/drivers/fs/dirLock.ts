import { join } from 'node:path';
import { UnavailableError } from '../../errors.ts';
import { describeHolder, type FileLock, tryFileLock } from '../../shared/fileLock.ts';

/** Name of the lock file in a store directory. */
export const LOCK_FILE = '.lock';

/** A held directory lock. */
export interface DirLock {
  /** Removes the lock file, if it is still this lock's (never one another store has taken over since). */
  release(): Promise<void>;
}

/**
 * Takes the directory for this process, with the package's one file lock (`shared/fileLock.ts`). The
 * filesystem driver keeps its revision and expiry index in memory, so two processes writing one directory
 * could both pass a compare-and-set; this lock makes the second one fail loudly, at once, instead of
 * waiting. A lock left by a process that died (kill -9), or by an earlier process with this pid, is taken
 * over (one store core per directory and process, so this process holds no other); a lock from another
 * host is never guessed about (no staleness by age) and must be removed by hand.
 */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  const attempt = tryFileLock(path, { staleMs: Number.POSITIVE_INFINITY, reclaimOwnProcess: true });
  if ('lock' in attempt) return attempt.lock satisfies FileLock;
  const { holder } = attempt;
  throw new UnavailableError(
    `store directory ${dir} is in use by ${describeHolder(holder)}: the filesystem driver allows one process per directory (use the SQLite or PostgreSQL driver to share a store between processes; remove ${path} only if that process is gone)`,
    { dir, lockFile: path, ...(holder && { pid: holder.pid, host: holder.host }) },
  );
}
