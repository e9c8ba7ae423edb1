import { randomBytes } from 'node:crypto';
import type { Database, Statement, Transaction } from 'better-sqlite3';
import { InvalidInputError } from '../../errors.ts';
import { idFromKey, idKey } from '../../shared/idKey.ts';
import type { ChangeHub } from '../shared/changeHub.ts';
import type { ChangeEvent } from '../types.ts';
import { WatcherLeases } from './watcherLeases.ts';

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
 * A store that watches registers in `<table>_watchers` (a lease, renewed while it watches); a write
 * transaction appends its changes to `<table>_changes` only while some other store's lease is live, so
 * the writes of a process nobody watches from elsewhere (the common case) pay no change rows. While
 * anyone watches, a timer checks `PRAGMA data_version` (which moves only when another connection
 * commits, so an idle poll is one pragma read) and delivers the new rows that did not come from this
 * store object. This store's own writes are delivered at once after their commit, as in every driver.
 * Old rows are pruned by the sweep.
 *
 * A watcher whose process stalled past its lease may have missed changes (writers stopped logging for
 * it): its next renewal sees the lapse and tells subscribers to start over (`onReset`), as a PostgreSQL
 * or Redis watcher does after a reconnect.
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
  // Undefined on a read-only connection, which cannot take a lease (and so cannot watch).
  readonly #leases: WatcherLeases | undefined;
  readonly #table: string;
  readonly #changesTable: string;
  readonly #sequence: Statement<[string], { seq: number }> | undefined;
  readonly #leaseMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastSeq = 0;
  #lastVersion = 0;
  #renewAt = 0;
  // Whether the write transaction under way records its changes (undefined: not decided yet; see `record`).
  #logging: boolean | undefined;

  readonly #report: (error: unknown) => void;

  /**
   * `report` receives a failed poll: nobody awaits the timer, so it goes to the store's `onError`.
   * `leaseMs`: how long a watcher's registration lasts unless renewed (it is renewed at half of it).
   */
  constructor(
    db: Database,
    table: string,
    hub: ChangeHub,
    pollMs: number,
    leaseMs: number,
    report: (error: unknown) => void,
  ) {
    this.#db = db;
    this.#report = report;
    this.#hub = hub;
    this.#pollMs = pollMs;
    this.#leaseMs = leaseMs;
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
    this.#table = table;
    this.#changesTable = changes;
    const sequenced = db
      .prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'`)
      .get();
    this.#sequence =
      sequenced === undefined ? undefined : db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?');
    this.#leases = db.readonly ? undefined : new WatcherLeases(db, table, this.origin, leaseMs);
  }

  /**
   * `body` as a write transaction whose `record` calls log only while a store other than this one
   * watches the file (decided at its first `record`, under the transaction's write lock).
   */
  transaction<A extends unknown[], R>(body: (...args: A) => R): Transaction<(...args: A) => R> {
    return this.#db.transaction((...args: A) => {
      this.#logging = undefined;
      return body(...args);
    });
  }

  /** Appends a change if the transaction records them; call inside a `transaction` body that made it. */
  record(event: ChangeEvent, at: number): void {
    this.#logging ??= this.#leases?.watchedElsewhere() ?? false;
    if (!this.#logging) return;
    this.#insert.run(at, this.origin, event.type, event.namespace, idKey(event.id), event.revision);
  }

  /**
   * Takes a lease as a watcher and starts polling, if it is not running (call when a watcher subscribes).
   * The last change and `data_version` are read in the lease's transaction, so nothing falls between.
   */
  start(): void {
    if (this.#timer) return;
    if (this.#leases === undefined) {
      throw new InvalidInputError(
        `watch needs a writable SQLite connection: a watcher registers in ${this.#table}_watchers so that other processes log their changes for it`,
        { table: this.#table },
      );
    }
    const taken = this.#leases.take(() => ({
      seq: this.#lastNumber(),
      version: this.#dataVersion(),
    }));
    this.#renewAt = Date.now() + this.#leaseMs / 2;
    this.#lastSeq = taken.inside.seq;
    this.#lastVersion = taken.inside.version;
    const leases = this.#leases;
    this.#timer = setInterval(() => {
      // Nobody awaits the timer: a failure (a damaged page) is reported instead of crashing, and a failed
      // renewal does not hold back the poll.
      try {
        if (Date.now() >= this.#renewAt) this.#renew(leases);
      } catch (error) {
        this.#report(error);
      }
      try {
        this.poll();
      } catch (error) {
        this.#report(error);
      }
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** Stops polling and gives up the lease (call when the last watcher leaves). */
  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      this.#leases?.leave();
    } catch (error) {
      // The lease runs out by itself; until then other processes log a few changes nobody reads.
      this.#report(error);
    }
  }

  /** Delivers changes committed by other connections since the last poll. */
  poll(): void {
    if (!this.#timer) return;
    const version = this.#dataVersion();
    if (version === this.#lastVersion) return;
    this.#lastVersion = version;
    for (let first = true; ; first = false) {
      const rows = this.#since.all(this.#lastSeq, READ_CHUNK);
      // Rows are numbered without gaps and pruned from the oldest: a first row past the next number means
      // rows this store had not read were pruned (it polled less often than `changeRetentionMs`).
      if (first && rows.length > 0 && rows[0]!.seq > this.#lastSeq + 1) this.#hub.reset();
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

  /**
   * Deletes changes older than `cutoff` (epoch ms), always keeping the newest (see the table's key), and
   * the registrations whose lease ran out (processes that ended without leaving; one that only stalled
   * finds its lease lapsed either way when it renews).
   */
  prune(cutoff: number): void {
    this.#leases?.prune();
    const first = this.#firstKept.get(cutoff);
    if (first) this.#prune.run(first.seq);
    else {
      const last = this.#last.get()?.seq ?? 0;
      if (last > 0) this.#prune.run(last);
    }
  }

  // Extends the lease when the write lock is free (else the next tick tries again); a lease that had run
  // out means changes may have gone unlogged: subscribers are told to start over.
  #renew(leases: WatcherLeases): void {
    let renewed: { lapsed: boolean } | undefined;
    try {
      renewed = leases.renew();
    } catch (error) {
      // Reported once, then tried again after a pause, not on every poll.
      this.#renewAt = Date.now() + this.#leaseMs / 8;
      throw error;
    }
    if (renewed === undefined) return;
    this.#renewAt = Date.now() + this.#leaseMs / 2;
    if (renewed.lapsed) this.#hub.reset();
  }

  // The number of the last row logged. A table of an earlier release (AUTOINCREMENT) numbers its next row
  // after the largest number it ever gave, also once its rows were all pruned: read from sqlite_sequence.
  #lastNumber(): number {
    const last = this.#last.get()?.seq ?? 0;
    return Math.max(last, this.#sequence?.get(this.#changesTable)?.seq ?? 0);
  }

  #dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }
}
