/**
 * The in-memory rollout store (`InMemoryRolloutStore`) as a backup source.
 *
 * A backup copies the repository's rows in one synchronous step (one moment) and writes them in the same
 * portable row form as the SQL stores, so a memory store's backup restores into SQLite or PostgreSQL and
 * back. A restore stages the current rows in an in-memory SQLite database with the rollout schema, applies
 * the backup there with the same rules as the SQL stores (`replace`, `merge`, conflicts, bounded INSERTs),
 * reads the result back and swaps it into the repository in one synchronous step: a failure anywhere
 * leaves the store as it was. The staging copy holds the store's data a second time while it runs (the
 * data is in memory anyway). Restore while the store is idle: waiters blocked on a dequeue are not woken
 * by restored queue entries until the next enqueue or their timeout.
 */
import type Database from 'better-sqlite3';
import type { JsonValue } from '../../codec/index.ts';
import {
  attemptInsertValues,
  type InMemoryRolloutStore,
  type MemoryRolloutState,
  memoryRolloutRepository,
  ROLLOUT_SCHEMA,
  resourcesValues,
  rolloutFields,
  rowMappers,
  spanValues,
  workerValues,
} from '../../rollouts/index.ts';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { sqliteRunner } from '../sql.ts';
import type { SectionEntry } from './format.ts';
import { portableRow, ROLLOUT_TABLES, type RolloutTable, rolloutTable } from './rolloutTables.ts';
import { type BackupSource, emptyRestoreResult } from './source.ts';
import { restoreTables } from './tableRestore.ts';

// better-sqlite3 (the staging database of a restore) is loaded when a restore runs, not on import.
const sqlite = (): typeof Database => loadPackage<typeof Database>('better-sqlite3', 'memoryRolloutSource');

/** Options of `memoryRolloutSource`. */
export interface MemoryRolloutSourceOptions {
  /** The store. */
  store: InMemoryRolloutStore;
  /** Source name in the backup (default `rollouts`). */
  name?: string;
}

/** The values of each table's rows, in the column order of `ROLLOUT_TABLES`. */
function tableValues(state: MemoryRolloutState, table: string): unknown[][] {
  switch (table) {
    case 'agl_rollouts':
      return state.rollouts.map((r) => [r.rolloutId, ...rolloutFields(r)]);
    case 'agl_queue':
      return state.queue.map((id) => [id]);
    case 'agl_attempts':
      return state.attempts.map(attemptInsertValues);
    case 'agl_spans':
      return state.spans.map(spanValues);
    case 'agl_span_sequences':
      return state.sequences.map(([id, n]) => [id, n]);
    case 'agl_resources':
      return state.resources.map(({ update, writeSeq }) => [...resourcesValues(update), writeSeq]);
    case 'agl_workers':
      return state.workers.map(workerValues);
    case 'agl_idempotency':
      return state.idempotency.map((r) => [r.key, r.operation, r.result, r.createdAt]);
    default:
      return [];
  }
}

/** A table's rows of `state` as portable records, in the order the table orders them. */
function portableRows(state: MemoryRolloutState, table: RolloutTable): Array<Record<string, JsonValue>> {
  const rows = tableValues(state, table.name).map((values) =>
    portableRow(table, Object.fromEntries(table.columns.map(([c], i) => [c, values[i]]))),
  );
  if (table.name === 'agl_attempts' || table.name === 'agl_spans') {
    // The SQL stores order these by key; the memory store by rollout, then insertion.
    const keys = table.order.split(', ');
    rows.sort((a, b) => {
      for (const k of keys) {
        const x = a[k] as string | number;
        const y = b[k] as string | number;
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    });
  }
  return rows;
}

/** Reads the staged tables back into a state. */
function stateOf(db: Database.Database): MemoryRolloutState {
  const json = (value: unknown) =>
    value === null || value === undefined ? null : JSON.parse(value as string);
  const mappers = rowMappers({
    json,
    optionalNumber: (v) => (v === null || v === undefined ? null : Number(v)),
  });
  const all = (table: string) => {
    const t = rolloutTable(table)!;
    return db.prepare(`SELECT * FROM ${table} ORDER BY ${t.order}`).all() as Array<Record<string, unknown>>;
  };
  return {
    rollouts: all('agl_rollouts').map(mappers.toRolloutRow),
    queue: all('agl_queue').map((r) => r.rollout_id as string),
    attempts: all('agl_attempts').map(mappers.toAttemptRow),
    spans: all('agl_spans').map(mappers.toSpan),
    sequences: all('agl_span_sequences').map((r) => [r.rollout_id as string, Number(r.last_sequence_id)]),
    resources: all('agl_resources').map((r) => ({
      update: mappers.toResources(r),
      writeSeq: Number(r.write_seq),
    })),
    workers: all('agl_workers').map(mappers.toWorker),
    idempotency: all('agl_idempotency').map((r) => ({
      key: r.key as string,
      operation: r.operation as string,
      result: r.result as string,
      createdAt: Number(r.created_at),
    })),
  };
}

/** The memory rollout store as a `BackupSource` (see the module comment). */
export function memoryRolloutSource(options: MemoryRolloutSourceOptions): BackupSource {
  const repository = memoryRolloutRepository(options.store);
  return {
    name: options.name ?? 'rollouts',
    backend: 'memory',
    holds: ['rollouts'],
    async openRead() {
      const state = repository.exportState();
      return {
        sections: async () => ROLLOUT_TABLES.map((t) => ({ kind: 'table' as const, collection: t.name })),
        async *records(section) {
          const table = rolloutTable(section.collection);
          if (table) yield* portableRows(state, table);
        },
        close: async () => {},
      };
    },
    async restore(plan) {
      const result = emptyRestoreResult();
      const db = new (sqlite())(':memory:');
      try {
        db.exec(ROLLOUT_SCHEMA);
        const sql = sqliteRunner(db);
        // Stage the current rows (every table, so tables outside the plan are kept as they are).
        const current = repository.exportState();
        const staged = ROLLOUT_TABLES.map(
          (t) => ({ name: t.name, collection: t.name, kind: 'table' }) as SectionEntry,
        );
        db.exec('BEGIN');
        await restoreTables(
          sql,
          {
            backup: plan.backup,
            sections: staged,
            records: async function* (s) {
              yield* portableRows(current, rolloutTable(s.collection)!);
            },
            mode: 'replace',
            overwrite: false,
          },
          emptyRestoreResult(),
        );
        await restoreTables(sql, plan, result);
        db.exec('COMMIT');
        repository.importState(stateOf(db));
        return result;
      } finally {
        db.close();
      }
    },
  };
}
