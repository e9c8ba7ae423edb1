import { readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// A lock temp file lives for a few syscalls; one this old was left by a killed process.
const LOCK_TEMP_MAX_AGE_MS = 60_000;

/**
 * Removes temp files that killed writers of `path` left behind. Must run under the context's lock: every
 * writer holds it while its temp file exists, so no temp file of `path` then belongs to a live write.
 * Lock temp files are made before the lock is held, so only old ones are removed.
 */
export async function removeOrphanTemps(path: string): Promise<number> {
  const dir = dirname(path);
  const name = basename(path);
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return 0;
  }
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Exactly the names writeFileAtomic and the lock give temp files of this path, nothing else.
  const writeTemp = new RegExp(`^\\.${escaped}\\.\\d+\\.[0-9a-f]{12}\\.tmp$`);
  const lockTemp = new RegExp(`^${escaped}\\.lock\\.\\d+\\.[0-9a-f]{12}\\.tmp$`);
  let removed = 0;
  for (const file of files) {
    const full = join(dir, file);
    if (writeTemp.test(file)) {
      if (await unlink(full).then(ok, fail)) removed++;
    } else if (lockTemp.test(file)) {
      const info = await stat(full).catch(() => null);
      if (info && Date.now() - info.mtimeMs > LOCK_TEMP_MAX_AGE_MS && (await unlink(full).then(ok, fail)))
        removed++;
    }
  }
  return removed;
}

const ok = (): boolean => true;
const fail = (): boolean => false;
