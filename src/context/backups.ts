import { copyFile, link, rename, unlink } from 'node:fs/promises';

/** Path of the `n`th most recent previous version of `path` (1 = the one before the current file). */
export function backupPath(path: string, n: number): string {
  return `${path}.bak.${n}`;
}

/**
 * Keeps the last `count` versions of `path` before it is replaced: `.bak.1` becomes `.bak.2`, and so on,
 * then the current file becomes `.bak.1`. The current file is hard-linked, not moved, so `path` exists
 * at every instant: a crash during rotation never leaves a context without its file.
 */
export async function rotateBackups(path: string, count: number): Promise<void> {
  if (count <= 0) return;
  for (let n = count - 1; n >= 1; n--) {
    await rename(backupPath(path, n), backupPath(path, n + 1)).catch(ignoreMissing);
  }
  const first = backupPath(path, 1);
  await unlink(first).catch(ignoreMissing);
  try {
    await link(path, first);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // Filesystems without hard links get a copy instead.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') await copyFile(path, first);
    else throw error;
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
