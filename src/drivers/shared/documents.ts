import type { Codec, JsonValue } from '../../codec/index.ts';
import { CorruptStateError } from '../../errors.ts';
import type { BatchOperation, BatchResult, ChangeEvent, StorageInfo, StoredDocument } from '../types.ts';
import { defineLazyValue } from './lazyValue.ts';

/** Codec path of a document's value in error messages: `$["agents/a1"]`. */
export function valuePath(namespace: string, id: string): string {
  return `$[${JSON.stringify(`${namespace}/${id}`)}]`;
}

/**
 * Parses a stored JSON column of a document. Text that is not JSON is a `CorruptStateError` naming the
 * document, the column and where the row is (`where`, with `details` such as the table); the row is never
 * changed. A malformed codec value inside valid JSON is reported by `codec.decode` itself, with its path.
 */
export function parseStoredJson(
  text: string,
  namespace: string,
  id: string,
  column: string,
  where: string,
  details: Record<string, unknown>,
): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new CorruptStateError(
      `the stored ${column} of ${namespace}/${id} in ${where} is not valid JSON; the row is left untouched`,
      { namespace, id, ...details, column },
      { cause: error },
    );
  }
}

/** The fields a write left besides namespace, id, metadata and value. */
export interface WrittenFields {
  revision: number;
  createdAt: number;
  updatedAt: number;
  expiresAt?: number;
  storage?: StorageInfo;
}

/**
 * The document `put` returns, built from the encoded forms it stored: metadata decoded now (a fresh copy),
 * the value decoded on first read (see defineLazyValue).
 */
export function putResult<V>(
  codec: Codec,
  namespace: string,
  id: string,
  written: WrittenFields,
  value: JsonValue,
  metadata: JsonValue | undefined,
): StoredDocument<V> {
  return defineLazyValue(
    {
      namespace,
      id,
      revision: written.revision,
      createdAt: written.createdAt,
      updatedAt: written.updatedAt,
      ...(metadata !== undefined && { metadata: codec.decode(metadata) as Record<string, unknown> }),
      ...(written.expiresAt !== undefined && { expiresAt: written.expiresAt }),
      ...(written.storage !== undefined && { storage: written.storage }),
    },
    () => codec.decode(value) as V,
  );
}

/**
 * A batch's results and the change events to emit after its commit, from one revision per operation: the
 * new revision of a put, the deleted revision of a delete (0 when nothing was there).
 */
export function batchOutcome(
  operations: ReadonlyArray<Pick<BatchOperation, 'type' | 'namespace' | 'id'>>,
  revisions: readonly number[],
): BatchResult & { events: ChangeEvent[] } {
  const events: ChangeEvent[] = [];
  const results = operations.map(({ type, namespace, id }, i): BatchResult['results'][number] => {
    const revision = revisions[i]!;
    if (type === 'put') {
      events.push({ type, namespace, id, revision });
      return { namespace, id, revision };
    }
    if (revision > 0) events.push({ type, namespace, id, revision });
    return { namespace, id, revision: null, deleted: revision > 0 };
  });
  return { results, events };
}
