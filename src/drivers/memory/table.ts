import { ExpiryHeap } from '../../shared/expiryHeap.ts';
import type { PutOp, StoredRow, Written } from '../kernel/storage.ts';

/**
 * The memory driver's rows by namespace and id, with a heap of expiry times so a sweep pops only the due
 * rows (the seeds scanned every key). Rows keep the value's codec form, never the caller's object (later
 * mutations never reach the store), or its compressed/encrypted bytes; each read decodes a fresh copy.
 */
export class MemoryTable {
  readonly #namespaces = new Map<string, Map<string, StoredRow>>();
  readonly #expiries = new ExpiryHeap();

  /** The live row, or undefined when absent or expired at `now`. */
  live(namespace: string, id: string, now: number): StoredRow | undefined {
    const row = this.#namespaces.get(namespace)?.get(id);
    return row && (row.expiresAt == null || row.expiresAt > now) ? row : undefined;
  }

  /** Every row of a namespace, live or not, unordered. */
  rows(namespace: string): Map<string, StoredRow> | undefined {
    return this.#namespaces.get(namespace);
  }

  /** Namespaces holding at least one row (one emptied by deletes keeps an empty map until the sweep). */
  namespaces(): string[] {
    return [...this.#namespaces].filter(([, rows]) => rows.size > 0).map(([name]) => name);
  }

  /** Stores what a put wrote. */
  put(op: PutOp, { revision, createdAt }: Written, now: number): void {
    const { namespace, id, expiresAt, packed } = op;
    const bytes = packed?.text === undefined ? packed?.bytes : undefined;
    const row: StoredRow = {
      id,
      revision,
      createdAt,
      updatedAt: now,
      json: bytes ? undefined : op.encoded,
      stored: bytes,
      metadata: op.metadata,
      storage: packed?.storage ?? op.storage,
      expiresAt,
    };
    let rows = this.#namespaces.get(namespace);
    if (!rows) {
      rows = new Map();
      this.#namespaces.set(namespace, rows);
    }
    rows.set(id, row);
    if (expiresAt !== undefined) this.#expiries.push({ at: expiresAt, namespace, id });
  }

  /** Moves a live row's expiry (the heap item of the old one goes stale: the sweep skips it). */
  touch(namespace: string, id: string, expiresAt: number, now: number): boolean {
    const row = this.live(namespace, id, now);
    if (!row) return false;
    this.#namespaces.get(namespace)!.set(id, { ...row, expiresAt });
    this.#expiries.push({ at: expiresAt, namespace, id });
    return true;
  }

  /** Removes a row. */
  delete(namespace: string, id: string): void {
    this.#namespaces.get(namespace)?.delete(id);
  }

  /** Removes the rows expired at `now`, calling `expired` for each; returns how many. */
  sweep(now: number, expired: (namespace: string, id: string, revision: number) => void): number {
    let removed = 0;
    for (let item = this.#expiries.popDue(now); item; item = this.#expiries.popDue(now)) {
      const rows = this.#namespaces.get(item.namespace);
      const row = rows?.get(item.id);
      // Stale heap items (document rewritten with another expiry, or deleted) are skipped.
      if (!rows || !row || row.expiresAt !== item.at) continue;
      rows.delete(item.id);
      if (rows.size === 0) this.#namespaces.delete(item.namespace);
      removed++;
      expired(item.namespace, item.id, row.revision);
    }
    return removed;
  }

  /** Drops everything. */
  clear(): void {
    this.#namespaces.clear();
    this.#expiries.clear();
  }
}
