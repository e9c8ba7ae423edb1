import { randomBytes } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { idFromKey, idKey } from '../../shared/idKey.ts';
import type { ChangeHub } from '../shared/changeHub.ts';
import type { ChangeEvent } from '../types.ts';

interface ChangeRow {
  seq: number;
  origin: string;
  type: ChangeEvent['type'];
  namespace: string;
  id_key: Buffer;
  revision: number;
}

const READ_CHUNK = 1000;

/**
 * Lets `watch` see changes committed by other processes (and other connections) on the same file.
 * Every write appends a row to `<table>_changes` in its own transaction; while anyone watches, a timer
 * checks `PRAGMA data_version` (which moves only when another connection commits, so an idle poll is
 * one pragma read) and delivers the new rows that did not come from this store object. This store's own
 * writes are delivered at once after their commit, as in every driver. Old rows are pruned by the sweep.
 */
export class SqliteChangeLog {
  /** Marks the rows this store object wrote, so polling does not deliver them a second time. */
  readonly origin = randomBytes(8).toString('hex');
  readonly #db: Database;
  readonly #hub: ChangeHub;
  readonly #pollMs: number;
  readonly #insert: Statement<[number, string, string, string, Buffer, number], void>;
  readonly #since: Statement<[number, number], ChangeRow>;
  readonly #last: Statement<[], { seq: number | null }>;
  readonly #firstKept: Statement<[number], { seq: number }>;
  readonly #prune: Statement<[number], void>;
  #timer: NodeJS.Timeout | undefined;
  #lastSeq = 0;
  #lastVersion = 0;

  readonly #report: (error: unknown) => void;

  /** `report` receives a failed poll: nobody awaits the timer, so it goes to the store's `onError`. */
  constructor(db: Database, table: string, hub: ChangeHub, pollMs: number, report: (error: unknown) => void) {
    this.#db = db;
    this.#report = report;
    this.#hub = hub;
    this.#pollMs = pollMs;
    const changes = `${table}_changes`;
    // A plain rowid key, not AUTOINCREMENT (which also rewrites a page of sqlite_sequence in every write
    // transaction): a new row gets the largest seq + 1, and `prune` always keeps the newest row, so seq
    // only grows and a poller's `seq > last` misses nothing. Files made before keep AUTOINCREMENT.
    db.exec(`CREATE TABLE IF NOT EXISTS ${changes} (
      seq INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      origin TEXT NOT NULL,
      type TEXT NOT NULL,
      namespace TEXT NOT NULL,
      id_key BLOB NOT NULL,
      revision INTEGER NOT NULL
    )`);
    this.#insert = db.prepare(
      `INSERT INTO ${changes} (at, origin, type, namespace, id_key, revision) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.#since = db.prepare(
      `SELECT seq, origin, type, namespace, id_key, revision FROM ${changes} WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    this.#last = db.prepare(`SELECT max(seq) AS seq FROM ${changes}`);
    // Rows are appended in time order, so the first row young enough is found by reading only the old ones.
    this.#firstKept = db.prepare(`SELECT seq FROM ${changes} WHERE at >= ? ORDER BY seq LIMIT 1`);
    this.#prune = db.prepare(`DELETE FROM ${changes} WHERE seq < ?`);
  }

  /** Appends a change; call inside the transaction that made it. */
  record(event: ChangeEvent, at: number): void {
    this.#insert.run(at, this.origin, event.type, event.namespace, idKey(event.id), event.revision);
  }

  /** Starts polling if it is not running (call when a watcher subscribes). */
  start(): void {
    if (this.#timer) return;
    this.#lastSeq = this.#last.get()?.seq ?? 0;
    this.#lastVersion = this.#dataVersion();
    this.#timer = setInterval(() => {
      // Nobody awaits the timer: a failed poll (a damaged page) is reported instead of crashing.
      try {
        this.poll();
      } catch (error) {
        this.#report(error);
      }
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** Stops polling (call when the last watcher leaves). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Delivers changes committed by other connections since the last poll. */
  poll(): void {
    if (!this.#timer) return;
    const version = this.#dataVersion();
    if (version === this.#lastVersion) return;
    this.#lastVersion = version;
    for (;;) {
      const rows = this.#since.all(this.#lastSeq, READ_CHUNK);
      for (const row of rows) {
        this.#lastSeq = row.seq;
        if (row.origin === this.origin) continue;
        this.#hub.emit({
          type: row.type,
          namespace: row.namespace,
          id: idFromKey(row.id_key),
          revision: row.revision,
        });
      }
      if (rows.length < READ_CHUNK) return;
    }
  }

  /** Deletes changes older than `cutoff` (epoch ms), always keeping the newest (see the table's key). */
  prune(cutoff: number): void {
    const first = this.#firstKept.get(cutoff);
    if (first) this.#prune.run(first.seq);
    else {
      const last = this.#last.get()?.seq ?? 0;
      if (last > 0) this.#prune.run(last);
    }
  }

  #dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }
}
