// Every background loop of the rollout stores reports its failures to `onError` (none is swallowed): the
// health-check timer, the re-check of awaited rollouts, PostgreSQL's pool, its lease release on close.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MemoryRolloutRepository,
  PostgresRolloutStore,
  type PostgresRolloutStoreOptions,
  RepositoryRolloutStore,
  type RolloutStoreOptions,
} from '../../src/rollouts/index.ts';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';
import { channelFor } from '../../src/shared/postgres/identifiers.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

/** An `onError` that records what it was given, and resolves `next()` on the next report. */
function recorder() {
  const reports: Array<{ error: unknown; context: BackgroundErrorContext }> = [];
  let wake: (() => void) | undefined;
  return {
    reports,
    onError: (error: unknown, context: BackgroundErrorContext) => {
      reports.push({ error, context });
      wake?.();
    },
    /** Resolves once a report whose source includes `source` arrived. */
    async until(source: string): Promise<{ error: unknown; context: BackgroundErrorContext }> {
      for (;;) {
        const found = reports.find((r) => r.context.source.includes(source));
        if (found !== undefined) return found;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}

/** A memory repository whose reads fail on demand. */
class FailingRepository extends MemoryRolloutRepository {
  failDue = false;
  failReads = false;
  override hasDueAttempts(nowSeconds: number): boolean {
    if (this.failDue) throw new Error('disk on fire');
    return super.hasDueAttempts(nowSeconds);
  }
  override getRollout(rolloutId: string) {
    if (this.failReads) throw new Error('reads on fire');
    return super.getRollout(rolloutId);
  }
}

function failingStore(options: RolloutStoreOptions) {
  const repo = new FailingRepository();
  return { repo, store: new RepositoryRolloutStore(repo, options) };
}

describe('synchronous rollout stores: background errors', () => {
  it('report a failing health-check timer pass to onError and keep ticking', async () => {
    const errors = recorder();
    const { repo, store } = failingStore({ healthCheckIntervalMs: 10, onError: errors.onError });
    repo.failDue = true;
    const { error, context } = await errors.until('health check');
    expect((error as Error).message).toBe('disk on fire');
    expect(context.source).toBe('memory rollout store health check');
    const count = errors.reports.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors.reports.length).toBeGreaterThan(count);
    repo.failDue = false;
    await store.close();
  });

  it('report a failing re-check of awaited rollouts to onError', async () => {
    const errors = recorder();
    const { repo, store } = failingStore({ healthCheckIntervalMs: 10, onError: errors.onError });
    const rollout = await store.enqueueRollout({ input: 1 });
    const wait = store.waitForRollouts({ rolloutIds: [rollout.rolloutId], timeoutMs: 10_000 });
    // The wait has read its rollouts and registered once the next turn came.
    await new Promise((resolve) => setImmediate(resolve));
    repo.failReads = true;
    const { error } = await errors.until('wait re-check');
    expect((error as Error).message).toBe('reads on fire');
    repo.failReads = false;
    await store.close();
    await expect(wait).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('PostgresRolloutStore: background errors', () => {
  const schemas: string[] = [];
  const fresh = (): string => {
    const schema = uniqueName('rollouts_bg');
    schemas.push(schema);
    return schema;
  };
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  /** A store on a fresh schema reporting to a new recorder, its schema created by a first write. */
  async function opened(options: PostgresRolloutStoreOptions) {
    const errors = recorder();
    const schema = fresh();
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      poolSize: 3,
      ...options,
      onError: errors.onError,
    });
    const rollout = await store.enqueueRollout({ input: 1 });
    return { errors, schema, store, rollout };
  }

  /** Waits until `store` holds the cluster's health-check lease. */
  async function leader(store: PostgresRolloutStore): Promise<void> {
    for (let i = 0; i < 100 && !store.operationalStats().healthCheckLeader; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(store.operationalStats().healthCheckLeader).toBe(true);
  }

  async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  it('reports a failing timed health check', async () => {
    const { errors, schema, store } = await opened({ healthCheckIntervalMs: 20 });
    await leader(store);
    // The lease lives in agl_meta: without it the next pass fails.
    await admin((c) => c.query(`DROP TABLE "${schema}".agl_meta`));
    const { context } = await errors.until('health check');
    expect(context.source).toBe('postgres rollout store health check');
    await store.close();
    expect(errors.reports.every((r) => r.context.source.startsWith('postgres rollout store'))).toBe(true);
  });

  it('reports a failing lease release on close', async () => {
    // Long enough that no pass runs between the rename and the close.
    const { errors, schema, store } = await opened({ healthCheckIntervalMs: 300 });
    await leader(store);
    // Renamed, not dropped, between two passes: the release on close cannot find the lease table.
    await admin((c) => c.query(`ALTER TABLE "${schema}".agl_meta RENAME TO agl_meta_moved`));
    await store.close();
    expect(errors.reports.map((r) => r.context.source)).toContain(
      'postgres rollout store health-check lease release',
    );
  });

  it('reports a failing re-check of awaited rollouts', async () => {
    const { errors, schema, store, rollout } = await opened({
      healthCheckIntervalMs: 0,
      waitRecheckIntervalMs: 20,
    });
    const wait = store.waitForRollouts({ rolloutIds: [rollout.rolloutId], timeoutMs: 10_000 });
    wait.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    await admin((c) => c.query(`ALTER TABLE "${schema}".agl_rollouts RENAME TO agl_rollouts_moved`));
    const { context } = await errors.until('wait re-check');
    expect(context.source).toBe('postgres rollout store wait re-check');
    await store.close();
  });

  it("reports an idle connection's error from its own pool", async () => {
    const { errors, schema, store } = await opened({ healthCheckIntervalMs: 0 });
    // A read last: its connection goes back idle with a statement naming the schema.
    await store.queryRollouts();
    // Only this store's idle connections: their last statement named its unique schema.
    const { rowCount } = await admin((c) =>
      c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND state = 'idle' AND strpos(query, $1) > 0`,
        [schema],
      ),
    );
    expect(rowCount).toBeGreaterThan(0);
    const { context } = await errors.until('pool');
    expect(context.source).toBe('postgres rollout store pool');
    await store.close();
  });

  it('reports a dropped LISTEN connection', async () => {
    const { errors, schema, store, rollout } = await opened({ healthCheckIntervalMs: 0 });
    const wait = store.waitForRollouts({ rolloutIds: [rollout.rolloutId], timeoutMs: 10_000 });
    wait.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    const channel = channelFor(schema, 'agentstate_rollouts_');
    const { rowCount } = await admin((c) =>
      c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN %' AND strpos(query, $1) > 0`,
        [channel],
      ),
    );
    expect(rowCount).toBe(1);
    const { context } = await errors.until('listener');
    expect(context.source).toBe('postgres rollout store listener');
    await store.close();
  });
});
