import { copyFile, mkdir, readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DOCUMENT_EXTENSION } from './fileNames.ts';

/** Directory beside a namespace's documents that holds earlier versions: `.versions/<file>/<rev>.jsonl`. */
export const VERSIONS_DIR = '.versions';

/** Directory of the kept versions of the document stored at `path`. */
export function versionsDir(path: string): string {
  return join(dirname(path), VERSIONS_DIR, path.slice(dirname(path).length + 1));
}

/** Path of one kept version. */
export function versionPath(path: string, revision: number): string {
  return join(versionsDir(path), `${revision}${DOCUMENT_EXTENSION}`);
}

/** Revisions kept for the document at `path`, newest first. */
export async function keptRevisions(path: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(versionsDir(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => /^\d+\.jsonl$/.test(name))
    .map((name) => Number.parseInt(name, 10))
    .sort((a, b) => b - a);
}

/**
 * Copies the current file of a document aside, as the version `revision`, before it is overwritten or
 * deleted (the seed's backup-before-write), then drops versions beyond the newest `keep`. A copy, not a
 * rename: the current file stays in place until the atomic write replaces it.
 */
export async function keepVersion(path: string, revision: number, keep: number): Promise<void> {
  await mkdir(versionsDir(path), { recursive: true });
  await copyFile(path, versionPath(path, revision));
  const revisions = await keptRevisions(path);
  await Promise.all(revisions.slice(keep).map((r) => unlink(versionPath(path, r)).catch(() => {})));
}
