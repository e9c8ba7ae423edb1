/**
 * Writes a backup file in one streaming pass (format in ./format.ts): records are batched into ~64 KiB
 * strings, gzip-compressed and appended as they are read, so memory stays flat whatever the store size.
 * The file is written under a temporary name, fsynced and renamed, so a crash never leaves a file that
 * looks complete.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { JsonValue } from '../../codec/index.ts';
import {
  BACKUP_MAGIC,
  type BackupManifest,
  encodeTrailer,
  GZIP_LEVEL,
  type SectionEntry,
  type SectionKind,
} from './format.ts';

/** Progress of a running backup or restore. */
export interface BackupProgress {
  /** What is running. */
  phase: 'create' | 'verify' | 'restore';
  /** The section being processed. */
  section: string;
  /** Records processed so far (all sections). */
  records: number;
  /** Uncompressed bytes processed so far. */
  bytes: number;
  /** Records in the whole backup, when known (verify and restore know it from the manifest). */
  totalRecords?: number;
  /** Uncompressed bytes of the whole backup, when known. */
  totalBytes?: number;
}

/** A section to write: where it comes from and its records. */
export interface SectionInput {
  source: string;
  kind: SectionKind;
  collection: string;
  records: AsyncIterable<JsonValue>;
}

/** Records are joined into chunks of about this size before compression (fewer, larger zlib calls). */
const CHUNK_CHARS = 64 * 1024;

/** Writes the file at `path` (via `path + '.partial'`); returns the manifest written. */
export async function writeBackupFile(
  path: string,
  header: Omit<BackupManifest, 'sections'>,
  sections: AsyncIterable<SectionInput>,
  onProgress?: (progress: BackupProgress) => void,
): Promise<BackupManifest> {
  const partial = `${path}.partial`;
  const handle = await open(partial, 'w');
  const entries: SectionEntry[] = [];
  let offset = 0;
  const total = { records: 0, bytes: 0 };
  try {
    const write = async (chunk: Uint8Array | string) => {
      const { bytesWritten } = await handle.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      offset += bytesWritten;
    };
    await write(BACKUP_MAGIC);
    for await (const input of sections) {
      const name = `${input.source}/${input.collection}`;
      const entry: SectionEntry = {
        name,
        source: input.source,
        kind: input.kind,
        collection: input.collection,
        count: 0,
        offset,
        length: 0,
        rawBytes: 0,
        sha256: '',
      };
      const hash = createHash('sha256');
      await pipeline(
        async function* lines() {
          let text = '';
          for await (const record of input.records) {
            text += `${JSON.stringify(record)}\n`;
            entry.count++;
            total.records++;
            if (text.length >= CHUNK_CHARS) {
              const bytes = Buffer.from(text);
              entry.rawBytes += bytes.length;
              total.bytes += bytes.length;
              text = '';
              yield bytes;
              onProgress?.({ phase: 'create', section: name, ...total });
            }
          }
          const bytes = Buffer.from(text);
          entry.rawBytes += bytes.length;
          total.bytes += bytes.length;
          yield bytes;
        },
        createGzip({ level: GZIP_LEVEL }),
        async (compressed: AsyncIterable<Buffer>) => {
          for await (const chunk of compressed) {
            hash.update(chunk);
            await write(chunk);
          }
        },
      );
      entry.length = offset - entry.offset;
      entry.sha256 = hash.digest('hex');
      entries.push(entry);
      onProgress?.({ phase: 'create', section: name, ...total });
    }
    const manifest: BackupManifest = { ...header, sections: entries };
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest)}\n`);
    const manifestOffset = offset;
    await write(manifestBytes);
    await write(
      encodeTrailer(
        manifestOffset,
        manifestBytes.length,
        createHash('sha256').update(manifestBytes).digest('hex'),
      ),
    );
    await handle.sync();
    await handle.close();
    await rename(partial, path);
    return manifest;
  } catch (error) {
    // The write's error is the one thrown; closing the handle of a failed write may fail the same way.
    await handle.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
}
