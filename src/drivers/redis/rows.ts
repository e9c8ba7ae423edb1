import type { StoredRow } from '../kernel/storage.ts';

/** The hash fields of a document, in the order `rowOf` reads them. */
export const FIELDS = ['v', 'r', 'c', 'u', 'm', 'e', 's'] as const;

/** The row of a document's hash fields (HMGET of FIELDS), or undefined when absent or expired at `now`. */
export function rowOf(id: string, fields: (Buffer | null)[], now: number): StoredRow | undefined {
  const [v, r, c, u, m, e, s] = fields;
  if (!v || !r || !c || !u) return undefined;
  const expiresAt = e ? Number(e.toString()) : undefined;
  if (expiresAt !== undefined && expiresAt <= now) return undefined;
  return {
    id,
    stored: v,
    revision: Number(r.toString()),
    createdAt: Number(c.toString()),
    updatedAt: Number(u.toString()),
    metadata: m ? m.toString('utf8') : null,
    expiresAt,
    storage: s ? s.toString('utf8') : null,
  };
}
