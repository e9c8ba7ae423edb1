import type { Database, Statement } from 'better-sqlite3';

/**
 * The stores watching one SQLite file, each with a lease in `<table>_watchers`: writers log changes only
 * while a lease other than their own store's is live (see changeLog.ts). Leases are in wall-clock ms
 * (Date.now), never a store's `now` option: they are about whether a process is alive, and stores with
 * different clocks may share the file.
 */
export class WatcherLeases {
  readonly #db: Database;
  readonly #origin: string;
  readonly #leaseMs: number;
  readonly #watchedElsewhere: Statement<[number, string], unknown>;
  readonly #leaseOf: Statement<[string], { until: number }>;
  readonly #take: Statement<[string, number], void>;
  readonly #leave: Statement<[string], void>;
  readonly #prune: Statement<[number], void>;

  /** The leases of `<table>_watchers` (created if missing); `origin` names this store's own. */
  constructor(db: Database, table: string, origin: string, leaseMs: number) {
    this.#db = db;
    this.#origin = origin;
    this.#leaseMs = leaseMs;
    const watchers = `${table}_watchers`;
    db.exec(`CREATE TABLE IF NOT EXISTS ${watchers} (origin TEXT PRIMARY KEY, until INTEGER NOT NULL)`);
    this.#watchedElsewhere = db.prepare(`SELECT 1 FROM ${watchers} WHERE until > ? AND origin <> ? LIMIT 1`);
    this.#leaseOf = db.prepare(`SELECT until FROM ${watchers} WHERE origin = ?`);
    this.#take = db.prepare(
      `INSERT INTO ${watchers} (origin, until) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET until = excluded.until`,
    );
    this.#leave = db.prepare(`DELETE FROM ${watchers} WHERE origin = ?`);
    this.#prune = db.prepare(`DELETE FROM ${watchers} WHERE until < ?`);
  }

  /** Whether a store other than this one holds a live lease; call inside a write transaction. */
  watchedElsewhere(): boolean {
    return this.#watchedElsewhere.get(Date.now(), this.#origin) !== undefined;
  }

  /**
   * Takes or extends this store's lease, then runs `inside` in the same write transaction (a writer that
   * commits after it sees the lease; one that committed before it is before what `inside` reads). `lapsed`
   * when the lease had run out or was never taken. Waits for the write lock like any write.
   */
  take<T>(inside: () => T): { lapsed: boolean; inside: T } {
    return this.#db
      .transaction(() => {
        const now = Date.now();
        const lease = this.#leaseOf.get(this.#origin);
        this.#take.run(this.#origin, now + this.#leaseMs);
        return { lapsed: lease === undefined || lease.until <= now, inside: inside() };
      })
      .immediate();
  }

  /**
   * Extends this store's lease if the write lock is free; undefined when another connection holds it (a
   * watcher never stalls its process on the lock: the lease has half its length left to try again).
   */
  renew(): { lapsed: boolean } | undefined {
    return this.#withoutWaiting(() => this.take(() => undefined));
  }

  /** Gives up this store's lease if the write lock is free (otherwise it runs out by itself). */
  leave(): void {
    if (this.#db.open) this.#withoutWaiting(() => this.#leave.run(this.#origin));
  }

  /** Removes the leases that ran out (of processes that ended without leaving). */
  prune(): void {
    this.#prune.run(Date.now());
  }

  // Runs `write` with the busy timeout off; undefined when the database is locked.
  #withoutWaiting<T>(write: () => T): T | undefined {
    const waits = this.#db.pragma('busy_timeout', { simple: true }) as number;
    this.#db.pragma('busy_timeout = 0');
    try {
      return write();
    } catch (error) {
      // SQLITE_BUSY, or SQLITE_BUSY_SNAPSHOT when a read on a shared connection holds an older snapshot.
      if (String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return undefined;
      throw error;
    } finally {
      this.#db.pragma(`busy_timeout = ${waits}`);
    }
  }
}
