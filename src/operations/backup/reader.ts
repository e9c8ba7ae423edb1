/**
 * Reads backup files: the manifest (through the trailer), the records of a section, and a full check of
 * every section's checksum and record count. Every refusal is CORRUPT_STATE (or INVALID_INPUT for a newer
 * format) naming the backup and the section.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { JsonValue } from '../../codec/index.ts';
import { CorruptStateError, InvalidInputError } from '../../errors.ts';
import {
  BACKUP_FORMAT_VERSION,
  BACKUP_MAGIC,
  type BackupManifest,
  decodeTrailer,
  type SectionEntry,
  TRAILER_LENGTH,
} from './format.ts';
import type { BackupProgress } from './writer.ts';

/** Refusal of a damaged file: CORRUPT_STATE with the backup, the section and the reason. */
function corrupt(
  backup: string,
  section: string,
  reason: string,
  message: string,
  cause?: unknown,
): CorruptStateError {
  return new CorruptStateError(
    `backup ${backup}: ${message}`,
    { backup, section, reason },
    cause === undefined ? undefined : { cause },
  );
}

/** Reads and checks the manifest of the file at `path`. */
export async function readManifest(path: string, backup: string): Promise<BackupManifest> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    const magic = await read(0, BACKUP_MAGIC.length);
    const magicText = magic.toString('latin1');
    const newer = /^AGENTSTATE-BACKUP (\d+)\n$/.exec(magicText);
    if (newer && Number(newer[1]) > BACKUP_FORMAT_VERSION) {
      throw new InvalidInputError(
        `backup ${backup} has format version ${newer[1]}; this agentstate reads up to ${BACKUP_FORMAT_VERSION}: upgrade agentstate to restore it`,
        { backup, section: 'manifest', formatVersion: Number(newer[1]), supported: BACKUP_FORMAT_VERSION },
      );
    }
    if (magicText !== BACKUP_MAGIC)
      throw corrupt(backup, 'header', 'not-a-backup', 'not an agentstate backup file');
    if (size < BACKUP_MAGIC.length + TRAILER_LENGTH) {
      throw corrupt(backup, 'manifest', 'truncated', 'the file is truncated (no manifest)');
    }
    const trailer = decodeTrailer(
      (await read(size - TRAILER_LENGTH, TRAILER_LENGTH)).toString('latin1'),
      backup,
      size,
    );
    const bytes = await read(trailer.offset, trailer.length);
    if (createHash('sha256').update(bytes).digest('hex') !== trailer.sha256) {
      throw corrupt(backup, 'manifest', 'checksum', 'the manifest does not match its checksum');
    }
    let manifest: BackupManifest;
    try {
      manifest = JSON.parse(bytes.toString('utf8')) as BackupManifest;
    } catch (error) {
      throw corrupt(backup, 'manifest', 'unreadable', 'the manifest is not JSON', error);
    }
    if (manifest.format !== 'agentstate-backup') {
      throw corrupt(backup, 'manifest', 'not-a-backup', 'the manifest is not an agentstate backup manifest');
    }
    if (manifest.formatVersion > BACKUP_FORMAT_VERSION) {
      throw new InvalidInputError(
        `backup ${backup} has format version ${manifest.formatVersion}; this agentstate reads up to ${BACKUP_FORMAT_VERSION}: upgrade agentstate to restore it`,
        {
          backup,
          section: 'manifest',
          formatVersion: manifest.formatVersion,
          supported: BACKUP_FORMAT_VERSION,
        },
      );
    }
    // Sections must tile the file between the magic line and the manifest: no gaps, no overlaps.
    let expected = BACKUP_MAGIC.length;
    for (const section of manifest.sections) {
      if (section.offset !== expected || section.length < 0) {
        throw corrupt(
          backup,
          section.name,
          'layout',
          `section ${section.name} is not where the manifest says`,
        );
      }
      expected += section.length;
    }
    if (expected !== trailer.offset)
      throw corrupt(backup, 'manifest', 'layout', 'sections do not end at the manifest');
    return manifest;
  } finally {
    await handle.close();
  }
}

/** The compressed bytes of a section. */
function sectionBytes(path: string, section: SectionEntry) {
  // An empty range would read the whole file: a zero-length section has no bytes at all.
  return createReadStream(path, {
    start: section.offset,
    end: Math.max(section.offset, section.offset + section.length - 1),
  });
}

/**
 * Streams the records of a section (the file must have been verified: this does not check the hash).
 * Lines are split here rather than by node:readline, whose async iterator keeps reading ahead of a slow
 * consumer: iterating the gunzip stream itself pulls one chunk at a time, so a slow restore holds one
 * chunk, not the section.
 */
export async function* sectionRecords(
  path: string,
  backup: string,
  section: SectionEntry,
): AsyncIterable<JsonValue> {
  let rest = '';
  let n = 0;
  const parse = (line: string): JsonValue => {
    n++;
    try {
      return JSON.parse(line) as JsonValue;
    } catch (error) {
      throw corrupt(
        backup,
        section.name,
        'unreadable',
        `record ${n} of section ${section.name} is not JSON`,
        error,
      );
    }
  };
  const text = sectionBytes(path, section).pipe(createGunzip()).setEncoding('utf8');
  for await (const chunk of text as AsyncIterable<string>) {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line.length > 0) yield parse(line);
  }
  if (rest.length > 0) yield parse(rest);
}

/** Recomputes a section's checksum and record count; throws naming the section when either differs. */
export async function verifySection(
  path: string,
  backup: string,
  section: SectionEntry,
  onBytes?: (rawBytes: number, records: number) => void,
): Promise<void> {
  const hash = createHash('sha256');
  const input = sectionBytes(path, section);
  const gunzip = createGunzip();
  let rawBytes = 0;
  let records = 0;
  let compressed = 0;
  const done = new Promise<void>((resolve, reject) => {
    input.on('data', (chunk) => {
      compressed += chunk.length;
      hash.update(chunk);
    });
    input.on('error', reject);
    gunzip.on('data', (chunk: Buffer) => {
      rawBytes += chunk.length;
      let count = 0;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) count++;
      records += count;
      onBytes?.(chunk.length, count);
    });
    gunzip.on('error', reject);
    gunzip.on('end', resolve);
  });
  input.pipe(gunzip);
  try {
    await done;
  } catch (error) {
    throw corrupt(backup, section.name, 'checksum', `section ${section.name} cannot be decompressed`, error);
  }
  if (compressed !== section.length || hash.digest('hex') !== section.sha256) {
    throw corrupt(backup, section.name, 'checksum', `section ${section.name} does not match its checksum`);
  }
  if (records !== section.count || rawBytes !== section.rawBytes) {
    throw corrupt(
      backup,
      section.name,
      'count',
      `section ${section.name} holds ${records} records, the manifest says ${section.count}`,
    );
  }
}

/** Verifies every section in file order; throws at the first bad one. */
export async function verifyFile(
  path: string,
  backup: string,
  onProgress?: (progress: BackupProgress) => void,
): Promise<BackupManifest> {
  const manifest = await readManifest(path, backup);
  const totalRecords = manifest.sections.reduce((n, s) => n + s.count, 0);
  const totalBytes = manifest.sections.reduce((n, s) => n + s.rawBytes, 0);
  const progress = { records: 0, bytes: 0 };
  for (const section of manifest.sections) {
    await verifySection(path, backup, section, (bytes, records) => {
      progress.bytes += bytes;
      progress.records += records;
      onProgress?.({ phase: 'verify', section: section.name, ...progress, totalRecords, totalBytes });
    });
  }
  return manifest;
}
