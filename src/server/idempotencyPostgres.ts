/**
 * Idempotency records in PostgreSQL, so a client that retries a write on another server process (its
 * first server died, or answered 5xx) gets the first answer instead of the write done twice. One small
 * table per schema (`agentstate_idempotency`), keyed by a SHA-256 of the scoped key. The requests of one
 * event-loop turn claim their keys with one statement and keep their answers with one more (a failed
 * request drops its claim with a statement of its own).
 */
import { randomUUID } from 'node:crypto';
import type { Pool, QueryConfig } from 'pg';
import { sha256 } from '../codec/index.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { postgresFailure } from '../shared/postgres/failure.ts';
import { checkSchemaName, quoteIdentifier } from '../shared/postgres/identifiers.ts';
import { statementTimeoutMs } from '../shared/postgres/statementTimeout.ts';
import { inTransaction } from '../shared/postgres/transaction.ts';
import { TurnBatcher } from './idempotencyBatch.ts';
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
/** Most claims or answers one statement carries (its parameters are arrays, so this bounds its size). */
const MAX_BATCH_ITEMS = 256;
/** Most payload bytes one statement of answers carries (one larger answer still goes alone). */
const MAX_BATCH_BYTES = 1024 * 1024;

interface ClaimRequest {
  keyHash: string;
  token: string;
  leaseMs: number;
}

interface Completion {
  keyHash: string;
  token: string;
  status: number;
  contentType: string | undefined;
  payload: Buffer;
  ttlMs: number;
}
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
  readonly #claims = new TurnBatcher<ClaimRequest, ClaimOutcome>((c) => this.#claimBatch(c), MAX_BATCH_ITEMS);
  readonly #completions = new TurnBatcher<Completion, undefined>(
    (a) => this.#completeBatch(a),
    MAX_BATCH_ITEMS,
    MAX_BATCH_BYTES,
  );

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
        // Idle connections never keep the process alive.
        allowExitOnIdle: true,
      });
    // An idle connection that dies (database restart) must not crash the process; the next query reconnects.
    if (this.#ownsPool) this.#pool.on('error', () => {});
  }

  claim(key: string, leaseMs: number): Promise<ClaimOutcome> {
    return this.#claims.add({ keyHash: sha256(key), token: randomUUID(), leaseMs });
  }

  /**
   * One statement for the claims of a turn: take each key nobody holds or whose holder's lease ran out,
   * and in the same snapshot read what holds the others. The LEFT JOIN keeps a row per key even when its
   * holder's insert committed after the snapshot (that caller then simply asks again). Keys are inserted
   * in order, so two processes claiming overlapping keys cannot deadlock.
   */
  async #claimBatch(all: ClaimRequest[]): Promise<ClaimOutcome[]> {
    // One row per key in the statement (PostgreSQL refuses to upsert a row twice in one statement): a
    // second claim of a key in the same turn finds it busy and asks again.
    const seen = new Set<string>();
    const claims = all.filter((c) => !seen.has(c.keyHash) && seen.add(c.keyHash));
    const { rows } = await this.#query<{
      key_hash: string;
      claimed: boolean;
      status: number | null;
      content_type: string | null;
      payload: Buffer | null;
    }>({
      name: `idem-claim-${this.#schema}`,
      text: `WITH input AS (
          SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) AS i(key_hash, owner, lease_ms)),
        claimed AS (
          INSERT INTO ${this.#table} AS r (key_hash, owner, expires_at)
          SELECT key_hash, owner, now() + lease_ms * interval '1 millisecond' FROM input ORDER BY key_hash
          ON CONFLICT (key_hash) DO UPDATE
            SET owner = EXCLUDED.owner, status = NULL, content_type = NULL, payload = NULL, bytes = 0,
                created_at = now(), expires_at = EXCLUDED.expires_at
            WHERE r.expires_at <= now()
          RETURNING r.key_hash, r.owner)
        SELECT i.key_hash, c.owner IS NOT NULL AS claimed, r.status, r.content_type, r.payload
        FROM input AS i
        LEFT JOIN claimed AS c ON c.key_hash = i.key_hash AND c.owner = i.owner
        LEFT JOIN ${this.#table} AS r ON r.key_hash = i.key_hash AND r.expires_at > now()`,
      values: [claims.map((c) => c.keyHash), claims.map((c) => c.token), claims.map((c) => c.leaseMs)],
    });
    const byKey = new Map(rows.map((row) => [row.key_hash, row]));
    return all.map((claim): ClaimOutcome => {
      const row = byKey.get(claim.keyHash);
      if (row?.claimed && claims.includes(claim)) return { kind: 'claimed', token: claim.token };
      if (row?.status != null && row.payload !== null) {
        return {
          kind: 'answered',
          response: { status: row.status, contentType: row.content_type ?? undefined, payload: row.payload },
        };
      }
      return { kind: 'busy' };
    });
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
    await this.#completions.add(
      {
        keyHash: sha256(key),
        token,
        status: response.status,
        contentType: response.contentType,
        payload,
        ttlMs,
      },
      payload.length,
    );
  }

  /**
   * One statement for the answers of a turn. Only a claim's holder writes its answer: a claim taken over
   * after its lease ran out stays the newer holder's.
   */
  async #completeBatch(answers: Completion[]): Promise<undefined[]> {
    await this.#query({
      name: `idem-complete-${this.#schema}`,
      text: `UPDATE ${this.#table} AS r
        SET owner = NULL, status = i.status, content_type = i.content_type, payload = i.payload,
            bytes = i.bytes, expires_at = now() + i.ttl_ms * interval '1 millisecond'
        FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bytea[], $6::int[], $7::int[])
          AS i(key_hash, owner, status, content_type, payload, bytes, ttl_ms)
        WHERE r.key_hash = i.key_hash AND r.owner = i.owner`,
      values: [
        answers.map((a) => a.keyHash),
        answers.map((a) => a.token),
        answers.map((a) => a.status),
        answers.map((a) => a.contentType ?? null),
        answers.map((a) => a.payload),
        answers.map((a) => payloadBytes(a.payload) + RECORD_OVERHEAD_BYTES),
        answers.map((a) => a.ttlMs),
      ],
    });
    return answers.map(() => undefined);
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
    // Under a lock: CREATE ... IF NOT EXISTS run by two processes at once can still collide.
    await inTransaction(this.#pool, async (client) => {
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
    });
  }
}
