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
}

/** A held lock; `release()` removes it if it is still ours. */
export interface FileLock {
  /** Removes the lock file (only if it still carries this holder's token). */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  /** First 8 hex digits of SHA-256 of the holder's hostname. */
  host: string;
  token: string;
}

const DEFAULT_STALE_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 10_000;
// A breaker holds `<lock>.break` for a few syscalls only; one older than this belongs to a dead breaker.
const BREAK_LOCK_STALE_MS = 2_000;
// The hostname is hashed to keep the lock text under 60 bytes: ext4 and others store such a symlink
// target inside the inode ("fast symlink"); a longer one costs a data block and ~4x the time.
const HOST = hash('sha256', hostname()).slice(0, 8);
const OWNER_TEXT = /^(\d+):([0-9a-f]{8}):([0-9a-f]{16})$/;

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
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const owner: LockOwner = { pid: process.pid, host: HOST, token: randomBytes(8).toString('hex') };
  const content = `${owner.pid}:${owner.host}:${owner.token}`;
  const deadline = Date.now() + timeoutMs;
  let delayMs = 2;
  for (;;) {
    if (tryCreate(lockPath, content)) return heldLock(lockPath, owner.token, staleMs);
    const holder = readOwner(lockPath);
    if (holder === 'gone') continue;
    // A stale lock is broken and the lock retried at once; if it could not be removed (no permission,
    // or another breaker is at work), the deadline below still applies.
    if (isStale(lockPath, holder, staleMs) && breakLock(lockPath, holder) && readOwner(lockPath) === 'gone') {
      continue;
    }
    if (Date.now() >= deadline) {
      throw new TimeoutError(
        `could not lock ${lockPath} within ${timeoutMs} ms: it is held by ${describe(holder)}`,
        { path: lockPath, timeoutMs, holder },
      );
    }
    // Jittered backoff: two waiters must not retry in lockstep.
    await sleep(delayMs * (0.5 + Math.random()));
    delayMs = Math.min(delayMs * 2, 50);
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
function readOwner(lockPath: string): LockOwner | null | 'gone' {
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
  // Anything else is not ours or damaged: judged by age alone.
  return match ? { pid: Number(match[1]), host: match[2]!, token: match[3]! } : null;
}

function isStale(lockPath: string, holder: LockOwner | null, staleMs: number): boolean {
  if (holder && holder.host === HOST && !processAlive(holder.pid)) return true;
  // lstat: the lock itself, never what a symlink's text might name.
  const mtimeMs = lstatSync(lockPath, { throwIfNoEntry: false })?.mtimeMs;
  return mtimeMs !== undefined && Date.now() - mtimeMs > staleMs;
}

/** Removes the lock judged stale, unless someone else is breaking it; false if it had to back off. */
function breakLock(lockPath: string, judged: LockOwner | null): boolean {
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

function heldLock(lockPath: string, token: string, staleMs: number): FileLock {
  // Refreshing the mtime tells other hosts (which cannot check our pid) that the holder is alive.
  const refresh = setInterval(
    () => {
      const now = new Date();
      lutimes(lockPath, now, now, () => {});
    },
    Math.max(1, Math.floor(staleMs / 3)),
  );
  refresh.unref();
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

function describe(holder: LockOwner | null): string {
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
