import { readFile } from 'node:fs/promises';
import type { JsonValue } from '../../codec/index.ts';
import { CorruptStateError } from '../../errors.ts';
import type { StoredRow } from '../kernel/storage.ts';
import type { StorageInfo } from '../types.ts';
import { type FsCore, isMissing } from './core.ts';
import { type DocumentHeader, parseDocument } from './envelope.ts';

/** A file's text, or undefined when it does not exist. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

// A value stored compressed or encrypted is a base64 JSON string on its line.
const isPacked = (storage: StorageInfo | undefined): boolean =>
  storage !== undefined && (storage.compression !== 'none' || storage.keyId !== undefined);

/** A parsed document file as a row for the shared layer (which verifies, unpacks and decodes it). */
export function rowOf(header: DocumentHeader, value: JsonValue, valueText: string, path: string): StoredRow {
  const { id, revision, createdAt, updatedAt, metadata, expiresAt, storage } = header;
  const fields = { id, revision, createdAt, updatedAt, metadata, expiresAt, storage, where: path };
  if (!isPacked(storage)) return { ...fields, json: value, stored: valueText };
  if (typeof value !== 'string') {
    throw new CorruptStateError(`document file ${path} should hold its value as base64 text`, { path });
  }
  return { ...fields, stored: Buffer.from(value, 'base64') };
}

async function readParsed(path: string, namespace: string, id: string) {
  const text = await readText(path);
  if (text === undefined) return undefined;
  const parsed = parseDocument(text, path);
  if (parsed.header.namespace !== namespace || parsed.header.id !== id) {
    throw new CorruptStateError(
      `document file ${path} holds ${parsed.header.namespace}/${parsed.header.id}, not ${namespace}/${id}`,
      { path },
    );
  }
  return parsed;
}

/**
 * The live row of a document read from its file. A corrupt file is moved aside and reported (and the
 * read throws `CorruptStateError` naming both paths), never read as empty.
 */
export async function readRow(core: FsCore, namespace: string, id: string, now: number) {
  const path = core.pathOf(namespace, id);
  let parsed: Awaited<ReturnType<typeof readParsed>>;
  try {
    parsed = await readParsed(path, namespace, id);
  } catch (error) {
    if (!(error instanceof CorruptStateError)) throw error;
    // Look again under the document's lock: a writer may have replaced the file meanwhile, and a good
    // file must never be moved aside.
    const release = await core.mutex.lock([`${namespace}\0${id}`]);
    try {
      parsed = await readParsed(path, namespace, id);
    } catch (again) {
      if (!(again instanceof CorruptStateError)) throw again;
      throw await core.quarantine(path, again, namespace, id);
    } finally {
      release();
    }
  }
  if (!parsed || (parsed.header.expiresAt !== undefined && parsed.header.expiresAt <= now)) return undefined;
  return rowOf(parsed.header, parsed.value, parsed.valueText, path);
}
