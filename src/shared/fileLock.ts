import { hash, randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  lstatSync,
  lutimes,
  openSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { TimeoutError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from './backgroundErrors.ts';
import { Backoff, sleep } from './backoff.ts';
import { processAlive } from './processAlive.ts';

/** Options of the cross-process file lock. */
export interface FileLockOptions {
  /**
   * A lock whose holder has not refreshed it for this long is stale and may be broken (default 10 000).
   * The holder refreshes it every third of this while it holds it.
   */
  staleMs?: number;
  /** How long to wait for a busy lock before failing with `TimeoutError` (default 10 000). */
  timeoutMs?: number;
  /** Receives a failed refresh of the held lock's mtime (default: a process warning). */
  onError?: BackgroundErrorHandler;
}

/** A held lock; `release()` removes it if it is still ours. */
export interface FileLock {
  /** Removes the lock file (only if it still carries this holder's token). */
  release(): Promise<void>;
}

/** The holder a lock file names. */
export interface LockHolder {
  /** Process id of the holder. */
  pid: number;
  /** First 8 hex digits of SHA-256 of the holder's hostname. */
  host: string;
  /** Random per acquisition: tells this lock from a later one taken by the same process. */
  token: string;
}

const DEFAULT_STALE_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 10_000;
// A breaker holds `<lock>.break` for a few syscalls only; one older than this belongs to a dead breaker.
const BREAK_LOCK_STALE_MS = 2_000;
// The hostname is hashed to keep the lock text under 60 bytes: ext4 and others store such a symlink
// target inside the inode ("fast symlink"); a longer one costs a data block and ~4x the time.
const HOST = hostHash(hostname());
const OWNER_TEXT = /^(\d+):([0-9a-f]{8}):([0-9a-f]{16})$/;

function hostHash(name: string): string {
  return hash('sha256', name).slice(0, 8);
}

/**
 * Takes an exclusive lock shared by every process on this machine (and on a shared filesystem) by
 * creating `lockPath`.
 *
 * Why not `proper-lockfile`: its staleness is mtime-only with a 2 s floor, so after a `kill -9` every
 * other process waits seconds for the lock. Here the lock file names its holder (pid, host, token): a
 * holder on this host whose pid no longer exists is stale at once, and any holder that stopped
 * refreshing the file's mtime for `staleMs` is stale too (covers other hosts and reused pids).
 *
 * The lock is a symbolic link whose target text names the holder (the technique of Emacs lock files):
 * one `symlink` call creates it with its content atomically, so it is never seen empty or half-written
 * even if its creator is killed midway, and one `readlink` reads it. Where symlinks are not allowed
 * (Windows without the privilege, some FUSE mounts), a regular file is written to a temp name and
 * hard-linked into place, which is atomic too. Breaking a stale lock is itself
 * done under `<lock>.break`, and only if the lock still carries the token judged stale, so two
 * processes breaking the same stale lock cannot delete the fresh lock one of them just created.
 *
 * The lock's own file operations are synchronous on purpose: each is one metadata syscall
 * (microseconds), while the async form pays a thread-pool round trip per call. Taking and releasing
 * the lock asynchronously cost ~0.4 ms, half the time of a durable 1 KB write; now it is ~0.05 ms.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<FileLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const backoff = new Backoff(2, 50);
  for (;;) {
    const attempt = tryFileLock(lockPath, options);
    if ('lock' in attempt) return attempt.lock;
    if (Date.now() >= deadline) {
      throw new TimeoutError(
        `could not lock ${lockPath} within ${timeoutMs} ms: it is held by ${describeHolder(attempt.holder)}`,
        { path: lockPath, timeoutMs, holder: attempt.holder },
      );
    }
    await sleep(backoff.next());
  }
}

/** Options of one attempt to take a lock (`tryFileLock`). */
export interface LockAttemptOptions extends FileLockOptions {
  /**
   * Whether a lock that names this very process is stale. Only for a caller that knows this process
   * holds no other lock on the path (the filesystem driver, one store core per directory and process):
   * such a lock was left by an earlier process that had the same pid (a container restarted).
   */
  reclaimOwnProcess?: boolean;
}

/** Outcome of `tryFileLock`: the lock, or who holds it (null: a holder this module cannot name). */
export type LockAttempt = { lock: FileLock } | { holder: LockHolder | null };

/**
 * One attempt to take the lock, without waiting: breaks a stale lock first (see `acquireFileLock`).
 * A `staleMs` of Infinity judges holders by their pid only: one on another host is never guessed about.
 */
export function tryFileLock(lockPath: string, options: LockAttemptOptions = {}): LockAttempt {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const token = randomBytes(8).toString('hex');
  const content = `${process.pid}:${HOST}:${token}`;
  for (;;) {
    if (tryCreate(lockPath, content)) return { lock: heldLock(lockPath, token, staleMs, options.onError) };
    const holder = readOwner(lockPath);
    if (holder === 'gone') continue;
    // A stale lock is broken and the lock retried at once; if it could not be removed (no permission,
    // or another breaker is at work), the caller sees the holder.
    if (
      isStale(lockPath, holder, staleMs, options.reclaimOwnProcess === true) &&
      breakLock(lockPath, holder) &&
      readOwner(lockPath) === 'gone'
    ) {
      continue;
    }
    return { holder };
  }
}

let symlinksWork = true;

function tryCreate(lockPath: string, content: string): boolean {
  if (symlinksWork) {
    try {
      symlinkSync(content, lockPath);
      return true;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EINVAL') throw error;
      symlinksWork = false;
    }
  }
  return tryCreateFile(lockPath, content);
}

function tryCreateFile(lockPath: string, content: string): boolean {
  const temp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o644);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, lockPath);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    ignoreErrors(() => unlinkSync(temp));
  }
}

/** The holder recorded in the lock; null when unreadable; 'gone' when the lock vanished meanwhile. */
function readOwner(lockPath: string): LockHolder | null | 'gone' {
  let text: string;
  try {
    text = readlinkSync(lockPath);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return 'gone';
    if (code !== 'EINVAL') throw error;
    // EINVAL: a regular lock file (made where symlinks are not allowed).
    try {
      text = readFileSync(lockPath, 'utf8');
    } catch (again) {
      if (errorCode(again) === 'ENOENT') return 'gone';
      throw again;
    }
  }
  const match = OWNER_TEXT.exec(text);
  if (match) return { pid: Number(match[1]), host: match[2]!, token: match[3]! };
  // Anything else is not ours or damaged: judged by age alone.
  return legacyOwner(text);
}

/** The JSON lock file the filesystem driver wrote before it used this lock (`{ pid, hostname, token }`). */
function legacyOwner(text: string): LockHolder | null {
  try {
    const { pid, hostname: name, token } = JSON.parse(text) as Record<string, unknown>;
    if (typeof pid !== 'number' || typeof name !== 'string') return null;
    return { pid, host: hostHash(name), token: typeof token === 'string' ? token : '' };
  } catch {
    return null; // not JSON either
  }
}

function isStale(lockPath: string, holder: LockHolder | null, staleMs: number, reclaimOwn: boolean): boolean {
  if (
    holder &&
    holder.host === HOST &&
    (!processAlive(holder.pid) || (reclaimOwn && holder.pid === process.pid))
  ) {
    return true;
  }
  if (staleMs === Number.POSITIVE_INFINITY) return false;
  // lstat: the lock itself, never what a symlink's text might name.
  const mtimeMs = lstatSync(lockPath, { throwIfNoEntry: false })?.mtimeMs;
  return mtimeMs !== undefined && Date.now() - mtimeMs > staleMs;
}

/** Removes the lock judged stale, unless someone else is breaking it; false if it had to back off. */
function breakLock(lockPath: string, judged: LockHolder | null): boolean {
  const breakPath = `${lockPath}.break`;
  let fd: number;
  try {
    fd = openSync(breakPath, 'wx');
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
    const mtimeMs = lstatSync(breakPath, { throwIfNoEntry: false })?.mtimeMs;
    if (mtimeMs !== undefined && Date.now() - mtimeMs > BREAK_LOCK_STALE_MS) {
      ignoreErrors(() => unlinkSync(breakPath));
    }
    return false;
  }
  try {
    closeSync(fd);
    // Only remove the lock we judged stale: if its token changed, someone else broke it and took it.
    const current = readOwner(lockPath);
    if (current !== 'gone' && current?.token === judged?.token) ignoreErrors(() => unlinkSync(lockPath));
  } finally {
    ignoreErrors(() => unlinkSync(breakPath));
  }
  return true;
}

function heldLock(
  lockPath: string,
  token: string,
  staleMs: number,
  onError: BackgroundErrorHandler | undefined,
): FileLock {
  // Refreshing the mtime tells other hosts (which cannot check our pid) that the holder is alive; a lock
  // never judged by age needs none.
  const refresh =
    staleMs === Number.POSITIVE_INFINITY
      ? undefined
      : setInterval(
          () => {
            const now = new Date();
            lutimes(lockPath, now, now, (error) => {
              if (error) {
                reportBackgroundError(onError, error, {
                  source: 'file lock refresh',
                  details: { path: lockPath },
                });
              }
            });
          },
          Math.max(1, Math.floor(staleMs / 3)),
        );
  refresh?.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(refresh);
      const current = readOwner(lockPath);
      if (current !== 'gone' && current?.token === token) ignoreErrors(() => unlinkSync(lockPath));
    },
  };
}

/** The holder in words, for error messages: `pid 12 on this host`. */
export function describeHolder(holder: LockHolder | null): string {
  if (!holder) return 'an unknown holder';
  return holder.host === HOST ? `pid ${holder.pid} on this host` : `pid ${holder.pid} on another host`;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function ignoreErrors(fn: () => void): void {
  try {
    fn();
  } catch {
    // Best effort: the file may already be gone.
  }
}
