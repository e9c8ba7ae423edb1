/**
 * Plain JSON routes and stored values that plain JSON cannot hold. A document written in-process may hold a
 * BigInt (which `JSON.stringify` refuses), a Map or Set (which it turns into `{}`), bytes (an object of
 * numbered keys), a RegExp or Error (`{}`), or NaN/Infinity (`null`): `/v1/state` answers such a document
 * with a coded refusal that names the place and points at the route that answers the codec's tagged form,
 * instead of failing while serializing (500) or silently handing a plain-JSON client something else. Values
 * that serialize themselves faithfully (Date and URL as their ISO text / href) are answered as such.
 */
import { AgentStateError } from '../errors.ts';

/** What plain JSON cannot carry, found at `path`. */
interface Unrepresentable {
  path: string;
  kind: string;
}

// The name of a value plain JSON would change or refuse, or undefined when it passes through unchanged.
function unrepresentableKind(value: unknown): string | undefined {
  if (typeof value === 'bigint') return 'a BigInt';
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `the number ${value}`;
  if (value === null || typeof value !== 'object') return undefined;
  if (value instanceof Map) return 'a Map';
  if (value instanceof Set) return 'a Set';
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 'bytes';
  if (value instanceof RegExp) return 'a RegExp';
  if (value instanceof Error) return 'an Error';
  return undefined;
}

/** The first place inside `value` that plain JSON cannot carry as it is (`value.limits[2].max`), if any. */
export function firstUnrepresentable(value: unknown, path: string): Unrepresentable | undefined {
  const kind = unrepresentableKind(value);
  if (kind !== undefined) return { path, kind };
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstUnrepresentable(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  // Date, URL and registered classes serialize themselves; only plain objects are walked.
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const found = firstUnrepresentable(inner, `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Throws NOT_REPRESENTABLE when a document's value holds what plain JSON cannot carry, naming it and the tagged-form route. */
export function assertPlainJsonDocument(doc: { namespace: string; id: string; value: unknown }): void {
  const found = firstUnrepresentable(doc.value, 'value');
  if (found === undefined) return;
  const typed = `/v1/dashboard/documents/${encodeURIComponent(doc.namespace)}/${encodeURIComponent(doc.id)}`;
  throw new AgentStateError(
    'NOT_REPRESENTABLE',
    `document '${doc.id}' in namespace '${doc.namespace}' holds ${found.kind} at ${found.path}, which plain JSON cannot carry; read it in the codec's tagged form with GET ${typed}`,
    { namespace: doc.namespace, id: doc.id, path: found.path, typedRoute: typed },
  );
}
