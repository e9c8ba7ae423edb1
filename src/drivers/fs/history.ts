import { CorruptStateError, InvalidInputError } from '../../errors.ts';
import type { RowReader } from '../kernel/rows.ts';
import type { StoredDocument } from '../types.ts';
import type { FsCore } from './core.ts';
import { parseDocument } from './envelope.ts';
import { mapLimit } from './mapLimit.ts';
import { readText, rowOf } from './rows.ts';
import { keptVersions } from './versions.ts';

/** A version kept by `keepVersions`. */
export interface DocumentVersion {
  /** The revision the document had (revisions restart at 1 when a document is deleted and re-created). */
  revision: number;
  /** Order in which versions were kept: higher is newer, never reused, also across delete and re-create. */
  sequence: number;
  /** When that revision was written, epoch ms. */
  updatedAt: number;
}

const READ_PARALLELISM = 16;

/** Kept versions of a document, newest first; a damaged copy is left out and reported. */
export async function listVersions(core: FsCore, namespace: string, id: string): Promise<DocumentVersion[]> {
  const found = await mapLimit(
    await keptVersions(core.pathOf(namespace, id)),
    READ_PARALLELISM,
    async ({ sequence, revision, file }) => {
      const text = await readText(file);
      if (text === undefined) return undefined; // pruned meanwhile
      try {
        return { revision, sequence, updatedAt: parseDocument(text, file).header.updatedAt };
      } catch (error) {
        // One damaged copy must not hide the others; it stays on disk for inspection.
        if (!(error instanceof CorruptStateError)) throw error;
        core.report(error);
        return undefined;
      }
    },
  );
  return found.filter((v): v is DocumentVersion => v !== undefined);
}

/** One kept version by revision (the newest with it) or by `{ sequence }`, or undefined. */
export async function readVersion<V>(
  core: FsCore,
  toDocument: RowReader,
  namespace: string,
  id: string,
  version: number | { sequence: number },
): Promise<StoredDocument<V> | undefined> {
  const bySequence = typeof version === 'object' && version !== null;
  const wanted = bySequence ? version.sequence : version;
  if (!Number.isSafeInteger(wanted) || wanted < 1) {
    throw new InvalidInputError(
      `${bySequence ? 'sequence' : 'revision'} must be a positive whole number, got ${String(wanted)}`,
      { namespace, id },
    );
  }
  const kept = await keptVersions(core.pathOf(namespace, id));
  const match = kept.find((v) => (bySequence ? v.sequence : v.revision) === wanted);
  if (!match) return undefined;
  const text = await readText(match.file);
  if (text === undefined) return undefined;
  const { header, value, valueText } = parseDocument(text, match.file);
  return toDocument<V>(header.namespace, header.id, rowOf(header, value, valueText, match.file));
}
