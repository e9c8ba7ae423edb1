import { encodeCursor } from '../../shared/cursor.ts';
import type { DocumentStore, StoredDocument } from '../types.ts';

/**
 * Every document of `namespace` whose id starts with `prefix`, in id order, read one page at a time;
 * with `after`, only ids greater than it (every agentstate store reads the cursor of `encodeCursor`).
 */
export async function* listAll<V>(
  documents: DocumentStore,
  namespace: string,
  prefix: string,
  pageSize: number,
  after?: string,
): AsyncGenerator<StoredDocument<V>> {
  let cursor: string | undefined = after === undefined ? undefined : encodeCursor(after);
  do {
    const page = await documents.list<V>(namespace, {
      prefix,
      limit: pageSize,
      ...(cursor ? { cursor } : {}),
    });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** Deletes every document of `namespace` whose id starts with `prefix`, one atomic batch per page. */
export async function deleteByPrefix(
  documents: DocumentStore,
  namespace: string,
  prefix: string,
  pageSize: number,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    // Always the first page: the previous batch removed what came before it.
    const page = await documents.list(namespace, { prefix, limit: pageSize });
    if (page.items.length === 0) return deleted;
    await documents.batch(page.items.map((item) => ({ type: 'delete', namespace, id: item.id })));
    deleted += page.items.length;
  }
}
