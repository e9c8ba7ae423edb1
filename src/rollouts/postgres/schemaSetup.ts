/**
 * The rollout schema's first use: created once per store, under an advisory lock so concurrent first uses
 * (many processes starting at once) do not race, and checked against this code's version.
 */
import type { Pool, PoolClient } from 'pg';
import { CorruptStateError } from '../../errors.ts';
import { RACE_RETRIES } from '../../shared/postgres/failure.ts';
import { inTransaction } from '../../shared/postgres/transaction.ts';
import type { PostgresRolloutRepository } from './repository.ts';
import { POSTGRES_ROLLOUT_SCHEMA_VERSION, postgresRolloutSchema } from './schema.ts';
import { isTransient, LOCK_CLASS } from './transient.ts';

/** Creates the schema of one store when missing, once. */
export class SchemaSetup {
  readonly #pool: Pool;
  readonly #repo: PostgresRolloutRepository;
  readonly #lockKey: number;
  #ready: Promise<void> | undefined;
  /** Whether the schema was found or created (the health-check timer never creates it). */
  initialised = false;

  /** The schema of `repo` on `pool`; `lockKey` is the schema's advisory lock key. */
  constructor(pool: Pool, repo: PostgresRolloutRepository, lockKey: number) {
    this.#pool = pool;
    this.#repo = repo;
    this.#lockKey = lockKey;
  }

  /** Resolves once the schema exists; a failure is retried by the next call. */
  ensure(): Promise<void> {
    this.#ready ??= this.#create().then(
      () => {
        this.initialised = true;
      },
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }

  /**
   * Reads the stored schema version; runs the DDL only when the tables are missing. The DDL is never run
   * against a schema in use: `CREATE INDEX IF NOT EXISTS` takes a share lock on its table before it finds
   * the index, which would queue behind (and deadlock with) other processes' writes.
   */
  async #create(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (await this.exists(this.#pool)) return;
        await this.#runDdl();
        return;
      } catch (error) {
        if (isTransient(error) && attempt < RACE_RETRIES) continue;
        throw error;
      }
    }
  }

  /** True when the tables exist (at a version this code reads); CorruptStateError when newer. */
  async exists(q: Pool | PoolClient): Promise<boolean> {
    const meta = this.#repo.table('agl_meta');
    const exists = await q.query('SELECT to_regclass($1) IS NOT NULL AS ok', [meta]);
    if (exists.rows[0]?.ok !== true) return false;
    const { rows } = await q.query(`SELECT value FROM ${meta} WHERE key = 'schema_version'`);
    const version = rows[0]?.value as string | undefined;
    if (version === undefined) return false;
    if (Number(version) > POSTGRES_ROLLOUT_SCHEMA_VERSION) {
      const schema = this.#repo.schema;
      throw new CorruptStateError(
        `rollout schema ${schema} has version ${version}, newer than this agentstate (${POSTGRES_ROLLOUT_SCHEMA_VERSION}); upgrade agentstate`,
        { schema, schemaVersion: version },
      );
    }
    return true;
  }

  async #runDdl(): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, this.#lockKey]);
      // Another process may have created it while this one waited for the lock.
      if (!(await this.exists(client))) {
        await client.query(postgresRolloutSchema(this.#repo.schema));
        await client.query(
          `INSERT INTO ${this.#repo.table('agl_meta')} (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING`,
          [String(POSTGRES_ROLLOUT_SCHEMA_VERSION)],
        );
      }
    });
  }
}
