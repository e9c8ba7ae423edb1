/**
 * Idempotency records in PostgreSQL, so a client that retries a write on another server process (its
 * first server died, or answered 5xx) gets the first answer instead of the write done twice. One small
 * table per schema (`agentstate_idempotency`), keyed by a SHA-256 of the scoped key; each request costs
 * one statement to claim its key and one to keep its answer (or drop the claim).
 */
import { randomUUID } from 'node:crypto';
import type { Pool, QueryConfig } from 'pg';
import { sha256 } from '../codec/index.ts';
import { postgresFailure } from '../drivers/postgres/failure.ts';
import { checkSchemaName, quoteIdentifier } from '../drivers/postgres/identifiers.ts';
import { statementTimeoutMs } from '../drivers/postgres/statementTimeout.ts';
import { loadPackage } from '../drivers/shared/optionalPackage.ts';
import {
  type ClaimOutcome,
  payloadBytes,
  RECORD_OVERHEAD_BYTES,
  type SharedIdempotencyRecords,
  type StoredResponse,
} from './idempotencyRecords.ts';

/** Options of `PostgresIdempotencyRecords`. */
export interface PostgresIdempotencyOptions {
  /** The database (a pool of its own is made; `pool` instead to share one, never ended here). */
  connectionString?: string;
  /** A pool to use instead of `connectionString`. */
  pool?: Pool;
  /** Schema of the table (default `agentstate`, the stores' schema). */
  schema?: string;
  /** Connections of the pool made here (default 4). */
  poolSize?: number;
  /** Cancel a statement running longer, ms (default 60,000, as the stores' pools). */
  statementTimeoutMs?: number;
}

const WHAT = 'idempotency records';
/** Longest wait for a connection of the pool, ms: a database that does not answer fails the request. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Idempotency keys in a PostgreSQL table every server process of the schema shares. */
export class PostgresIdempotencyRecords implements SharedIdempotencyRecords {
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #table: string;
  readonly #schema: string;
  #ready: Promise<void> | undefined;
  #closed = false;

  /** Records in `schema` (default `agentstate`); the table is created on first use. */
  constructor(options: PostgresIdempotencyOptions) {
    const schema = options.schema ?? 'agentstate';
    checkSchemaName(schema);
    this.#schema = schema;
    this.#table = `${quoteIdentifier(schema)}.agentstate_idempotency`;
    this.#ownsPool = options.pool === undefined;
    this.#pool =
      options.pool ??
      new (loadPackage<typeof import('pg')>('pg', 'PostgresIdempotencyRecords').Pool)({
        connectionString: options.connectionString,
        max: options.poolSize ?? 4,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        statement_timeout: statementTimeoutMs(options.statementTimeoutMs),
        // The records are a cache of answers: a commit need not wait for its WAL flush. A database crash
        // can lose the last fraction of a second of them, which only lets a retry of those requests run
        // again (as without shared records); the writes they guard commit durably on their own.
        options: '-c synchronous_commit=off',
      });
    // An idle connection that dies (database restart) must not crash the process; the next query reconnects.
    if (this.#ownsPool) this.#pool.on('error', () => {});
  }

  async claim(key: string, leaseMs: number): Promise<ClaimOutcome> {
    const token = randomUUID();
    // One statement: take the key if nobody holds it or the holder's lease ran out, and in the same
    // snapshot read what holds it otherwise. The LEFT JOIN keeps one row even when the holder's insert
    // committed after the snapshot (then the caller simply asks again).
    const { rows } = await this.#query<{
      claimed: number;
      status: number | null;
      content_type: string | null;
      payload: Buffer | null;
    }>({
      name: `idem-claim-${this.#schema}`,
      text: `WITH claimed AS (
          INSERT INTO ${this.#table} AS r (key_hash, owner, expires_at)
          VALUES ($1, $2, now() + $3 * interval '1 millisecond')
          ON CONFLICT (key_hash) DO UPDATE
            SET owner = EXCLUDED.owner, status = NULL, content_type = NULL, payload = NULL, bytes = 0,
                created_at = now(), expires_at = EXCLUDED.expires_at
            WHERE r.expires_at <= now()
          RETURNING 1)
        SELECT (SELECT count(*) FROM claimed)::int AS claimed, r.status, r.content_type, r.payload
        FROM (VALUES (1)) AS one(x)
        LEFT JOIN ${this.#table} AS r ON r.key_hash = $1 AND r.expires_at > now()`,
      values: [sha256(key), token, leaseMs],
    });
    const row = rows[0]!;
    if (row.claimed === 1) return { kind: 'claimed', token };
    if (row.status !== null && row.payload !== null) {
      return {
        kind: 'answered',
        response: { status: row.status, contentType: row.content_type ?? undefined, payload: row.payload },
      };
    }
    return { kind: 'busy' };
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.#query({
      name: `idem-renew-${this.#schema}`,
      text: `UPDATE ${this.#table} SET expires_at = now() + $3 * interval '1 millisecond'
        WHERE key_hash = $1 AND owner = $2`,
      values: [sha256(key), token, leaseMs],
    });
    return rowCount === 1;
  }

  async complete(key: string, token: string, response: StoredResponse, ttlMs: number): Promise<void> {
    const payload = typeof response.payload === 'string' ? Buffer.from(response.payload) : response.payload;
    // Only the claim's holder writes the answer: a claim taken over after its lease ran out stays the
    // newer holder's.
    await this.#query({
      name: `idem-complete-${this.#schema}`,
      text: `UPDATE ${this.#table}
        SET owner = NULL, status = $3, content_type = $4, payload = $5, bytes = $6,
            expires_at = now() + $7 * interval '1 millisecond'
        WHERE key_hash = $1 AND owner = $2`,
      values: [
        sha256(key),
        token,
        response.status,
        response.contentType ?? null,
        payload,
        payloadBytes(payload) + RECORD_OVERHEAD_BYTES,
        ttlMs,
      ],
    });
  }

  async release(key: string, token: string): Promise<void> {
    await this.#query({
      name: `idem-release-${this.#schema}`,
      text: `DELETE FROM ${this.#table} WHERE key_hash = $1 AND owner = $2`,
      values: [sha256(key), token],
    });
  }

  async trim(maxEntries: number, maxBytes: number): Promise<void> {
    await this.#query({ text: `DELETE FROM ${this.#table} WHERE expires_at <= now()` });
    // Newest first, the running count and bytes; everything past either bound goes (claims, with no
    // answer yet, are never cut: their request is running).
    await this.#query({
      text: `DELETE FROM ${this.#table} WHERE key_hash IN (
          SELECT key_hash FROM (
            SELECT key_hash, row_number() OVER w AS n, sum(bytes) OVER w AS total
            FROM ${this.#table} WHERE owner IS NULL
            WINDOW w AS (ORDER BY created_at DESC, key_hash)) AS ranked
          WHERE n > $1 OR total > $2)`,
      values: [maxEntries, maxBytes],
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ready?.catch(() => {});
    if (this.#ownsPool) await this.#pool.end();
  }

  /** Runs a statement once the table exists; pg and network failures become coded errors. */
  async #query<R extends object = Record<string, unknown>>(
    config: QueryConfig,
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    try {
      this.#ready ??= this.#createTable().catch((error: unknown) => {
        // A failed creation (database away) is tried again by the next call.
        this.#ready = undefined;
        throw error;
      });
      await this.#ready;
      return await this.#pool.query<R>(config);
    } catch (error) {
      throw postgresFailure(error, WHAT, this.#closed, { schema: this.#schema });
    }
  }

  async #createTable(): Promise<void> {
    const client = await this.#pool.connect();
    // A checked-out connection that dies mid-transaction emits 'error'; unheard, it would end the process.
    const ignore = () => {};
    client.on('error', ignore);
    try {
      // Under a lock: CREATE ... IF NOT EXISTS run by two processes at once can still collide.
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `agentstate_idempotency:${this.#schema}`,
      ]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.#schema)}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.#table} (
        key_hash text PRIMARY KEY,
        owner text,
        status integer,
        content_type text,
        payload bytea,
        bytes integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL)`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.off('error', ignore);
      client.release();
    }
  }
}
