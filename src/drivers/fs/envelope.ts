import { open } from 'node:fs/promises';
import type { JsonValue } from '../../codec/index.ts';
import { CorruptStateError } from '../../errors.ts';
import type { StorageInfo } from '../types.ts';

/** Format tag written into every document file, so a future layout can be told apart. */
export const DOCUMENT_FORMAT = 'agentstate.document/1';

/** First line of a document file: everything but the value. */
export interface DocumentHeader {
  format: typeof DOCUMENT_FORMAT;
  namespace: string;
  id: string;
  revision: number;
  createdAt: number;
  updatedAt: number;
  /** Codec-encoded metadata. */
  metadata?: JsonValue;
  expiresAt?: number;
  /** Size, SHA-256 and form of the stored value (absent in files written before they were kept). */
  storage?: StorageInfo;
}

/**
 * A document file is two JSON lines: the header, then the codec-encoded value (or, when the value is
 * compressed or encrypted, a JSON string holding its bytes in base64, so the file stays text). Opening a store reads only
 * the header of each file (to rebuild revisions and the expiry index), not values that may be large.
 * JSON.stringify never emits a raw newline, so the first newline always ends the header.
 */
export function formatDocument(header: DocumentHeader, valueJson: string): string {
  return `${JSON.stringify(header)}\n${valueJson}\n`;
}

function corrupt(path: string, reason: string, cause?: unknown): CorruptStateError {
  return new CorruptStateError(`document file ${path} is unreadable: ${reason}`, { path }, { cause });
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Parses and checks a header line; anything malformed is a `CorruptStateError` naming the file. */
export function parseHeader(line: string, path: string): DocumentHeader {
  let header: unknown;
  try {
    header = JSON.parse(line);
  } catch (error) {
    throw corrupt(path, 'the header line is not valid JSON', error);
  }
  const h = header as Partial<DocumentHeader> | null;
  if (
    h === null ||
    typeof h !== 'object' ||
    h.format !== DOCUMENT_FORMAT ||
    typeof h.namespace !== 'string' ||
    typeof h.id !== 'string' ||
    !Number.isSafeInteger(h.revision) ||
    (h.revision as number) < 1 ||
    !isTime(h.createdAt) ||
    !isTime(h.updatedAt) ||
    (h.expiresAt !== undefined && !isTime(h.expiresAt)) ||
    (h.storage !== undefined && (h.storage === null || typeof h.storage !== 'object'))
  ) {
    throw corrupt(path, `the header is not an ${DOCUMENT_FORMAT} header`);
  }
  return h as DocumentHeader;
}

/** Parses a whole document file. The value is returned in its encoded form. */
export function parseDocument(
  text: string,
  path: string,
): { header: DocumentHeader; value: JsonValue; valueText: string } {
  const newline = text.indexOf('\n');
  if (newline < 0) throw corrupt(path, 'the file is truncated (no value line)');
  const header = parseHeader(text.slice(0, newline), path);
  const valueText = text.endsWith('\n') ? text.slice(newline + 1, -1) : text.slice(newline + 1);
  try {
    return { header, value: JSON.parse(valueText) as JsonValue, valueText };
  } catch (error) {
    throw corrupt(path, 'the value line is not valid JSON', error);
  }
}

const CHUNK = 4096;

/** Reads only the header line of a document file. */
export async function readHeader(path: string): Promise<DocumentHeader> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let position = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
      if (bytesRead === 0) throw corrupt(path, 'the file is truncated (no complete header line)');
      const newline = chunk.subarray(0, bytesRead).indexOf(0x0a);
      chunks.push(chunk.subarray(0, newline < 0 ? bytesRead : newline));
      if (newline >= 0) return parseHeader(Buffer.concat(chunks).toString('utf8'), path);
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
