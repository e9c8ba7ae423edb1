import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptStateError } from '../../errors.ts';
import { fsyncDirectory, writeFileAtomic } from '../../shared/atomicWrite.ts';

/** Directory (inside the store directory) holding the journals of batches being applied. */
export const JOURNAL_DIR = '.journal';

const JOURNAL_FORMAT = 'agentstate.batch/1';

/** The final state of one document after a batch: new file content, or `null` to delete it. */
export interface JournalEntry {
  namespace: string;
  id: string;
  content: string | null;
}

/**
 * Batches touch several files, and no filesystem renames several files atomically. So a batch is first
 * written, whole and fsynced, to one journal file (the commit point), then applied file by file, then the
 * journal is deleted. A crash before the journal exists leaves nothing; a crash after it is completed by
 * `recoverJournals` on the next open (roll forward). Entries name documents, never paths: paths are
 * computed again on replay, so an edited journal cannot write outside the store.
 */
export async function writeJournal(dir: string, entries: JournalEntry[], durable: boolean): Promise<string> {
  const journalDir = join(dir, JOURNAL_DIR);
  // A journal in a directory whose own entry is not yet durable could vanish with it on power loss.
  if ((await mkdir(journalDir, { recursive: true })) !== undefined && durable) await fsyncDirectory(dir);
  const path = join(journalDir, `${Date.now()}-${randomBytes(6).toString('hex')}.json`);
  await writeFileAtomic(path, JSON.stringify({ format: JOURNAL_FORMAT, entries }), { durable });
  return path;
}

/**
 * Deletes a journal once its batch is applied. The deletion is made durable before the batch is
 * acknowledged: a journal found on open therefore always belongs to a batch whose documents nobody
 * has written since, so replaying it can never overwrite newer data.
 */
export async function removeJournal(path: string, durable: boolean): Promise<void> {
  await unlink(path);
  if (durable) await fsyncDirectory(join(path, '..'));
}

/** A journal left by a crash, to be replayed. */
export interface PendingJournal {
  path: string;
  entries: JournalEntry[];
}

function isEntry(value: unknown): value is JournalEntry {
  const e = value as JournalEntry;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.namespace === 'string' &&
    typeof e.id === 'string' &&
    (e.content === null || typeof e.content === 'string')
  );
}

/** Reads the journals left in `dir`; removes temp files of journals that were never complete. */
export async function readPendingJournals(
  dir: string,
  onCorrupt: (path: string, error: CorruptStateError) => Promise<void>,
): Promise<PendingJournal[]> {
  const journalDir = join(dir, JOURNAL_DIR);
  let names: string[];
  try {
    names = (await readdir(journalDir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const pending: PendingJournal[] = [];
  for (const name of names) {
    const path = join(journalDir, name);
    // An interrupted journal write: the batch never reached its commit point, so it is dropped.
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      await unlink(path).catch(() => {});
      continue;
    }
    if (!name.endsWith('.json')) continue;
    try {
      const body = JSON.parse(await readFile(path, 'utf8')) as { format?: unknown; entries?: unknown };
      if (body.format !== JOURNAL_FORMAT || !Array.isArray(body.entries) || !body.entries.every(isEntry)) {
        throw new Error(`not an ${JOURNAL_FORMAT} journal`);
      }
      pending.push({ path, entries: body.entries });
    } catch (error) {
      await onCorrupt(
        path,
        new CorruptStateError(
          `batch journal ${path} is unreadable: ${(error as Error).message}`,
          { path },
          { cause: error },
        ),
      );
    }
  }
  return pending;
}
