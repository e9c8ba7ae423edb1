import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Codec, Compression } from '../codec/index.ts';
import { compressAsync, decompressAsync, propertyPath } from '../codec/index.ts';
import { CorruptStateError, InvalidInputError, isAgentStateError } from '../errors.ts';
import { type Entry, entryFromJson, mayHoldTags } from './entry.ts';

/**
 * The context file: readable JSON, one key per line, inside a small envelope.
 *
 * ```json
 * {
 *   "format": "agentstate/context",
 *   "version": 1,
 *   "sha256": "<hex>",
 *   "data": {
 *     "key": <value in the codec's tagged JSON form>
 *   }
 * }
 * ```
 *
 * `sha256` covers the data: it is the SHA-256 of the concatenated SHA-256 digests of each entry's
 * compact `"key":value` text, in file order. Per-entry digests let `save()` rehash only changed keys.
 * A file that fails the check (torn by a broken disk, or edited by hand) is reported as corrupt; after a
 * deliberate hand edit, delete the `sha256` line and the file is accepted as it is.
 * With compression the same text is gzip/brotli-compressed behind the codec's self-describing header.
 */
export const FORMAT = 'agentstate/context';
/** Version of the envelope written by this code. */
export const FORMAT_VERSION = 1;

/** Entries keyed by context key. A null-prototype record: its key order is the order `JSON.parse` gives. */
export type Entries = Record<string, Entry>;

/** What a context file holds. */
export interface FileState {
  entries: Entries;
  /** The data checksum (computed, whether or not the file carried one). */
  checksum: string;
}

const HEAD_PREFIX = `{\n  "format": "${FORMAT}",\n  "version": ${FORMAT_VERSION},\n  "sha256": "`;
const ENTRY_SEPARATOR = Buffer.from(',\n    ');
const DATA_OPEN = Buffer.from('"data": {\n    ');
const FOOTER = Buffer.from('\n  }\n}\n');
const EMPTY_DATA = Buffer.from('"data": {}\n}\n');

/**
 * The most bytes of text a context file may hold. Loading parses the text as one string, and the runtime
 * caps a string at this many UTF-16 units; UTF-8 never takes fewer bytes than UTF-16 units, so a file
 * within this many bytes can always be read back.
 */
export const MAX_TEXT_BYTES = bufferConstants.MAX_STRING_LENGTH;

/** Makes an empty entries record. */
export function emptyEntries(): Entries {
  return Object.create(null) as Entries;
}

/** The data checksum of a set of entries. */
export function checksumOf(entries: Entries): string {
  const hash = createHash('sha256');
  for (const key in entries) hash.update(entries[key]!.digest);
  return hash.digest('hex');
}

/** The file's bytes, as chunks to be written in order (no copy of the entries' bytes is made). */
export function renderChunks(entries: Entries, checksum: string): Buffer[] {
  const chunks: Buffer[] = [Buffer.from(`${HEAD_PREFIX}${checksum}",\n  `)];
  let first = true;
  for (const key in entries) {
    chunks.push(first ? DATA_OPEN : ENTRY_SEPARATOR, entries[key]!.bytes);
    first = false;
  }
  chunks.push(first ? EMPTY_DATA : FOOTER);
  return chunks;
}

/**
 * The file's bytes, compressed if asked. Uncompressed, they stay a list of chunks for one writev: joining
 * a 10 MB context into one buffer costs about as much as writing it (fresh pages fault in one by one).
 */
export async function renderFile(
  entries: Entries,
  checksum: string,
  compression: Compression,
  path: string,
): Promise<Uint8Array | Buffer[]> {
  const chunks = renderChunks(entries, checksum);
  checkReadableSize(chunks, path);
  return compression === 'none' ? chunks : compressAsync(Buffer.concat(chunks), compression);
}

/** Refuses to write a file too large to be loaded again (it would be saved, then unreadable). */
function checkReadableSize(chunks: readonly Buffer[], path: string): void {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.byteLength;
  if (bytes > MAX_TEXT_BYTES) {
    throw new InvalidInputError(
      `context ${path} would be ${bytes} bytes of text, more than the ${MAX_TEXT_BYTES} it could be read back with; nothing was written: delete or shrink large keys and store their data elsewhere`,
      { path, bytes, maxBytes: MAX_TEXT_BYTES },
    );
  }
}

/**
 * The checksum in a file's first bytes, if the file starts the way this code writes it; lets `save()`
 * see that nobody replaced the file since it was last read without reading all of it.
 */
export function checksumInHead(head: Buffer): string | undefined {
  const text = head.toString('latin1');
  if (!text.startsWith(HEAD_PREFIX)) return undefined;
  const hex = text.slice(HEAD_PREFIX.length, HEAD_PREFIX.length + 64);
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** Bytes `checksumInHead` needs. */
export const HEAD_BYTES = HEAD_PREFIX.length + 64;

/**
 * Parses and verifies a context file. Throws `CorruptStateError` (with `path` and `reason`) when the
 * bytes are not a valid, intact context file; `UnknownTypeError` when a value names an unregistered class
 * (the file is fine: register the class).
 */
export async function parseFile(bytes: Uint8Array, path: string, codec: Codec): Promise<FileState> {
  let raw: Buffer;
  try {
    // Bounded by what one string can hold (the text is read as one): more could never be read, and a
    // small compressed file must not make this process allocate gigabytes first.
    raw = Buffer.from(await decompressAsync(bytes, bufferConstants.MAX_STRING_LENGTH));
  } catch (error) {
    // Beyond the bound on decompressed bytes is size, not damage: reported apart, never quarantined.
    if (isAgentStateError(error) && error.details.reason === 'decompressed-too-large') {
      throw corrupt(
        path,
        'too-large',
        `decompresses to more than ${String(error.details.maxDecompressedBytes)} bytes`,
        error,
      );
    }
    throw corrupt(path, 'undecompressable', `cannot be decompressed`, error);
  }
  let text: string;
  try {
    text = raw.toString('utf8');
  } catch (error) {
    // Not damage: the text is longer than a string can be. Reported apart so it is never quarantined.
    throw corrupt(
      path,
      'too-large',
      `holds ${raw.byteLength} bytes of text, more than this runtime can read`,
      error,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, 'invalid-json', `is not valid JSON (${(error as Error).message})`, error);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw corrupt(path, 'not-an-envelope', 'is not a JSON object');
  }
  const envelope = json as Record<string, unknown>;
  if (envelope.format !== FORMAT) {
    throw corrupt(path, 'not-an-envelope', `has no "format": "${FORMAT}" field`);
  }
  if (envelope.version !== FORMAT_VERSION) {
    throw corrupt(
      path,
      'unsupported-version',
      `has format version ${JSON.stringify(envelope.version)}; this agentstate reads version ${FORMAT_VERSION} (upgrade agentstate to read newer files)`,
    );
  }
  const data = envelope.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw corrupt(path, 'not-an-envelope', 'has no "data" object');
  }
  const values = data as Record<string, unknown>;
  const entries = emptyEntries();
  const tagged: string[] = [];
  for (const key of Object.keys(values)) {
    const valueJson = JSON.stringify(values[key]);
    entries[key] = entryFromJson(key, valueJson);
    if (mayHoldTags(valueJson)) tagged.push(key);
  }
  const checksum = checksumOf(entries);
  if (envelope.sha256 !== undefined && envelope.sha256 !== checksum) {
    throw corrupt(
      path,
      'checksum-mismatch',
      'does not match its sha256 checksum (torn or edited; after a deliberate hand edit, delete the "sha256" line)',
    );
  }
  // Decode every tagged value once now, so a damaged value is found at load, not at some later `get`.
  for (const key of tagged) {
    try {
      codec.decode(values[key], propertyPath('$', key));
    } catch (error) {
      if (isAgentStateError(error, 'CORRUPT_STATE')) {
        throw corrupt(path, 'malformed-value', `has a malformed value: ${error.message}`, error);
      }
      throw error;
    }
  }
  return { entries, checksum };
}

function corrupt(path: string, reason: string, what: string, cause?: unknown): CorruptStateError {
  return new CorruptStateError(
    `context file ${path} ${what}. It was left untouched: repair or move it, or open the context with onCorrupt: 'quarantine' to move it aside and start empty`,
    { path, reason },
    cause === undefined ? undefined : { cause },
  );
}

/** Whether a corrupt-state error may be handled by moving the file aside (an intact newer or too large file must not be). */
export function isQuarantinable(error: unknown): error is CorruptStateError {
  if (!isAgentStateError(error, 'CORRUPT_STATE')) return false;
  return error.details.reason !== 'unsupported-version' && error.details.reason !== 'too-large';
}
