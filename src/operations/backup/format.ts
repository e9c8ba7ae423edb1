/**
 * The backup file format (version 1). One file, written front to back in a single pass:
 *
 *   AGENTSTATE-BACKUP 1\n            magic line (plain text)
 *   <section> <section> ...          each a gzip member of NDJSON records, one section per namespace/table
 *   <manifest JSON>\n                 plain JSON: versions, sources, and per section offset, length,
 *                                     record count and SHA-256 of its compressed bytes
 *   AGENTSTATE-MANIFEST <offset 16 hex> <length 16 hex> <sha256 64 hex>\n   fixed-size trailer
 *
 * The manifest is written last, not first, because counts and checksums are known only after a section is
 * streamed; the fixed-size trailer lets a reader find it with one read from the end (as zip does). A
 * truncated file has no valid trailer, so it is refused before anything is restored.
 *
 * gzip, not zstd or brotli: it ships with every supported Node version without flags (zstd is experimental
 * in Node 22), level 3 trades the last few percent of size for speed, and each section can be
 * inspected with standard tools (`tail -c +<offset+1> file | head -c <length> | gunzip`).
 */
import { CorruptStateError, InvalidInputError } from '../../errors.ts';

/** Version of the file format this code writes; a file with a newer one is refused. */
export const BACKUP_FORMAT_VERSION = 1;
/** First line of every backup file. */
export const BACKUP_MAGIC = `AGENTSTATE-BACKUP ${BACKUP_FORMAT_VERSION}\n`;
/** File name extension of backups. */
export const BACKUP_EXTENSION = '.agsb';
/** gzip level of sections: speed over the last few percent of size. */
export const GZIP_LEVEL = 3;

const TRAILER_PREFIX = 'AGENTSTATE-MANIFEST ';
/** Byte length of the trailer. */
export const TRAILER_LENGTH = TRAILER_PREFIX.length + 16 + 1 + 16 + 1 + 64 + 1;

/** What a section holds: documents of one namespace, or rows of one rollout table. */
export type SectionKind = 'documents' | 'table';

/** One section of a backup, as listed in the manifest. */
export interface SectionEntry {
  /** Unique name in the backup: `<source>/<namespace or table>`. */
  name: string;
  /** Name of the source it was read from. */
  source: string;
  /** Documents or table rows. */
  kind: SectionKind;
  /** The namespace (documents) or table (rollouts). */
  collection: string;
  /** Number of records. */
  count: number;
  /** Byte offset of the compressed section in the file. */
  offset: number;
  /** Compressed length in bytes. */
  length: number;
  /** Uncompressed NDJSON length in bytes. */
  rawBytes: number;
  /** SHA-256 (hex) of the compressed bytes. */
  sha256: string;
}

/** A source described in the manifest. */
export interface SourceEntry {
  /** Name given to the source (unique in a backup). */
  name: string;
  /** Backend: `memory`, `fs`, `sqlite`, `postgres`. */
  backend: string;
  /** What it holds. */
  holds: Array<'documents' | 'rollouts'>;
}

/** The manifest of a backup file. */
export interface BackupManifest {
  /** Always `agentstate-backup`. */
  format: 'agentstate-backup';
  /** Format version (see `BACKUP_FORMAT_VERSION`). */
  formatVersion: number;
  /** Version of agentstate that wrote it. */
  agentstateVersion: string;
  /** Name of the backup (the file name without extension). */
  name: string;
  /** ISO time the backup started. */
  createdAt: string;
  /** Section compression. */
  compression: 'gzip';
  /** Sources backed up. */
  sources: SourceEntry[];
  /** Sections in file order. */
  sections: SectionEntry[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws INVALID_INPUT unless `name` is a plain backup name (it becomes a file name: no paths). */
export function checkBackupName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name.includes('..')) {
    throw new InvalidInputError(
      `invalid backup name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (at most 128, no '..')`,
      { backup: name },
    );
  }
}

/** The trailer that points at the manifest. */
export function encodeTrailer(offset: number, length: number, sha256: string): string {
  const hex = (n: number) => n.toString(16).padStart(16, '0');
  return `${TRAILER_PREFIX}${hex(offset)} ${hex(length)} ${sha256}\n`;
}

/** Parses a trailer; CORRUPT_STATE naming the backup when it is not one (a truncated file). */
export function decodeTrailer(
  text: string,
  backup: string,
  fileSize: number,
): { offset: number; length: number; sha256: string } {
  const match = /^AGENTSTATE-MANIFEST ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{64})\n$/.exec(text);
  const offset = match ? Number.parseInt(match[1]!, 16) : Number.NaN;
  const length = match ? Number.parseInt(match[2]!, 16) : Number.NaN;
  if (!match || offset + length + TRAILER_LENGTH !== fileSize) {
    throw new CorruptStateError(
      `backup ${backup} has no valid manifest trailer: the file is truncated or not an agentstate backup`,
      { backup, section: 'manifest', reason: 'truncated' },
    );
  }
  return { offset, length, sha256: match[3]! };
}
