/**
 * Session participants checked against stored agents in batches: the scan hands over each session's
 * participants, and every `BATCH` of them is looked up at once (one `IN (...)` query with SQL access), so
 * the checker holds one batch, not every agent id and every session of the store.
 */

import type { DocumentStore } from '../../drivers/index.ts';
import { idKey } from '../../shared/idKey.ts';
import type { SqlRunner } from '../sql.ts';

/** Participants looked up per query: 500 ids is 501 parameters, within every backend's limit. */
const BATCH = 500;

/** Which of `ids` are stored in `namespace`. */
export type StoredIds = (namespace: string, ids: readonly string[]) => Promise<Set<string>>;

/** `StoredIds` by SQL: one query per batch on the documents table's key. */
export function storedIdsBySql(sql: SqlRunner, table: string): StoredIds {
  return async (namespace, ids) => {
    if (ids.length === 0) return new Set();
    const rows = await sql.all(
      `SELECT id FROM ${sql.table(table)} WHERE namespace = ? AND id_key IN (${ids.map(() => '?').join(', ')})`,
      [namespace, ...ids.map(idKey)],
    );
    return new Set(rows.map((r) => String(r.id)));
  };
}

/** `StoredIds` through the DocumentStore interface, which has no multi-get: one `get` per id. */
export function storedIdsByStore(store: DocumentStore): StoredIds {
  return async (namespace, ids) => {
    const found = new Set<string>();
    for (const id of ids) {
      // A document that exists but cannot be decoded is still stored.
      const doc = await store.get(namespace, id).catch(() => ({}));
      if (doc !== undefined) found.add(id);
    }
    return found;
  };
}

/** Collects (session, participant) pairs and reports each participant that is not a stored agent. */
export class ParticipantCheck {
  readonly #pending: Array<{ session: string; participant: string }> = [];
  readonly #stored: StoredIds;
  readonly #agents: string;
  readonly #missing: (session: string, participant: string) => void;

  /** A check of participants against `agentsNamespace`; `missing` receives each one not found. */
  constructor(
    stored: StoredIds,
    agentsNamespace: string,
    missing: (session: string, participant: string) => void,
  ) {
    this.#stored = stored;
    this.#agents = agentsNamespace;
    this.#missing = missing;
  }

  /** Adds a session's participants; looks a batch up when one is full. */
  async add(session: string, participants: readonly string[]): Promise<void> {
    for (const participant of participants) {
      this.#pending.push({ session, participant });
      if (this.#pending.length >= BATCH) await this.flush();
    }
  }

  /** Looks up what is pending. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending.splice(0);
    const found = await this.#stored(this.#agents, [...new Set(batch.map((p) => p.participant))]);
    for (const { session, participant } of batch)
      if (!found.has(participant)) this.#missing(session, participant);
  }
}
