/**
 * Plain JSON routes and stored values that plain JSON cannot hold. A document written in-process may hold a
 * BigInt, which `JSON.stringify` refuses: `/v1/state` answers such a document with a coded refusal that
 * names the place and points at the route that answers the codec's tagged form, instead of failing while
 * serializing (500) or changing the representation behind a plain-JSON client's back.
 */
import { AgentStateError } from '../errors.ts';

/** The path (`value.limits[2].max`) of the first BigInt inside `value`, or undefined when there is none. */
export function firstBigIntPath(value: unknown, path: string): string | undefined {
  if (typeof value === 'bigint') return path;
  if (value === null || typeof value !== 'object') return undefined;
  // Values that serialize themselves (Date) or that plain JSON shows as {} (Map, Set) are not refused here.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstBigIntPath(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const found = firstBigIntPath(inner, `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Throws NOT_REPRESENTABLE when a document's value holds a BigInt, naming it and the tagged-form route. */
export function assertPlainJsonDocument(doc: { namespace: string; id: string; value: unknown }): void {
  const path = firstBigIntPath(doc.value, 'value');
  if (path === undefined) return;
  const typed = `/v1/dashboard/documents/${encodeURIComponent(doc.namespace)}/${encodeURIComponent(doc.id)}`;
  throw new AgentStateError(
    'NOT_REPRESENTABLE',
    `document '${doc.id}' in namespace '${doc.namespace}' holds a BigInt at ${path}, which plain JSON cannot carry; read it in the codec's tagged form with GET ${typed}`,
    { namespace: doc.namespace, id: doc.id, path, typedRoute: typed },
  );
}
