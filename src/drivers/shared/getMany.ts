import type { DocumentStore, StoredDocument } from '../types.ts';
import { checkDocumentKey } from './validate.ts';

/** Most ids one driver statement of `getMany` names; longer lists are read in chunks of this size. */
export const GET_MANY_CHUNK = 64;

/**
 * Several documents of one namespace, in the order of `ids` (undefined for each missing one): the
 * driver's `getMany` where it has one (one statement per GET_MANY_CHUNK ids), else one `get` per id.
 */
export function getMany<V>(
  store: DocumentStore,
  namespace: string,
  ids: readonly string[],
): Promise<Array<StoredDocument<V> | undefined>> {
  if (store.getMany !== undefined) return store.getMany<V>(namespace, ids);
  return Promise.all(ids.map((id) => store.get<V>(namespace, id)));
}

/**
 * A driver's `getMany` from a function that reads at most GET_MANY_CHUNK keys at once: validates every
 * id first (a bad one is `INVALID_INPUT` before anything is read), then reads chunk by chunk and puts the
 * documents back in the order of `ids`.
 */
export async function getManyInChunks<V>(
  namespace: string,
  ids: readonly string[],
  readChunk: (chunk: readonly string[]) => Promise<Array<StoredDocument<V>>> | Array<StoredDocument<V>>,
): Promise<Array<StoredDocument<V> | undefined>> {
  for (const id of ids) checkDocumentKey(namespace, id);
  const found = new Map<string, StoredDocument<V>>();
  for (let i = 0; i < ids.length; i += GET_MANY_CHUNK) {
    for (const doc of await readChunk(ids.slice(i, i + GET_MANY_CHUNK))) found.set(doc.id, doc);
  }
  return ids.map((id) => found.get(id));
}
