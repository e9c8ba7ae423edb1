import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDirectory, writeFileAtomic } from '../../shared/atomicWrite.ts';
import { DOCUMENT_EXTENSION } from './fileNames.ts';

/**
 * Directory beside a namespace's documents that holds earlier versions:
 * `.versions/<file>/<sequence>-<revision>.jsonl`.
 */
export const VERSIONS_DIR = '.versions';

/**
 * One kept version's place. `sequence` only grows over a document's whole history: revisions restart at
 * 1 when a document is deleted and created again, so they cannot order (or name) versions across lives.
 */
export interface KeptVersion {
  /** Order of keeping, per document: higher is newer, never reused. */
  sequence: number;
  /** Revision the document had in that version. */
  revision: number;
}

/** Directory of the kept versions of the document stored at `path`. */
export function versionsDir(path: string): string {
  return join(dirname(path), VERSIONS_DIR, path.slice(dirname(path).length + 1));
}

/** Path of one kept version. */
function versionPath(path: string, version: KeptVersion): string {
  return join(versionsDir(path), `${version.sequence}-${version.revision}${DOCUMENT_EXTENSION}`);
}

const VERSION_NAME = /^(\d+)(?:-(\d+))?\.jsonl$/;

/** Versions kept for the document at `path`, newest first. */
export async function keptVersions(path: string): Promise<Array<KeptVersion & { file: string }>> {
  let names: string[];
  try {
    names = await readdir(versionsDir(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const kept: Array<KeptVersion & { file: string }> = [];
  for (const name of names) {
    const match = VERSION_NAME.exec(name);
    if (!match) continue; // temp files of an interrupted atomic write, and anything else
    // A version kept before sequences existed is named by its revision alone: that is its sequence.
    const sequence = Number.parseInt(match[1]!, 10);
    const revision = match[2] === undefined ? sequence : Number.parseInt(match[2], 10);
    kept.push({ sequence, revision, file: join(versionsDir(path), name) });
  }
  return kept.sort((a, b) => b.sequence - a.sequence);
}

/**
 * Copies the current file of a document aside, as the next version, before it is overwritten or deleted
 * (the seed's backup-before-write), then drops versions beyond the newest `keep`. The copy is written
 * atomically (and fsynced with `durable`), so a crash never leaves a torn version; the current file stays
 * in place until the atomic write replaces it. The newest version is always kept, so the next sequence
 * (newest + 1) only grows. Callers hold the document's lock.
 */
export async function keepVersion(
  path: string,
  revision: number,
  keep: number,
  durable: boolean,
): Promise<void> {
  const content = await readFile(path);
  const dir = versionsDir(path);
  const created = await mkdir(dir, { recursive: true });
  // New directories are entries of their parents: fsync those too, or the versions may vanish.
  if (durable && created !== undefined) {
    await fsyncDirectory(dirname(dir));
    await fsyncDirectory(dirname(dirname(dir)));
  }
  const before = await keptVersions(path);
  const sequence = (before[0]?.sequence ?? 0) + 1;
  await writeFileAtomic(versionPath(path, { sequence, revision }), content, { durable });
  await Promise.all(before.slice(Math.max(0, keep - 1)).map((v) => unlink(v.file).catch(() => {})));
}
