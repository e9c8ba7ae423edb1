// One dequeue asking for a billion rollouts with 20,000 queued: it takes at most the store's cap per call
// (a dequeue may always return fewer than asked), every PostgreSQL statement it sends stays small, and
// repeated calls hand out every rollout exactly once.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresRolloutStore, type RolloutStore } from '../../src/index.ts';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { spyOnConnections } from '../support/pgSpy.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from './backends.ts';

const QUEUED = 20_000;

async function enqueueMany(store: RolloutStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let done = 0; done < QUEUED; done += 2000) {
    const batch = Array.from({ length: 2000 }, (_, i) => ({ input: { n: done + i } }));
    for (const rollout of await store.enqueueManyRollouts(batch)) ids.add(rollout.rolloutId);
  }
  return ids;
}

/** Dequeues with a huge limit until the queue is empty; returns the ids and the largest single answer. */
async function drain(store: RolloutStore): Promise<{ ids: string[]; largest: number; calls: number }> {
  const ids: string[] = [];
  let largest = 0;
  let calls = 0;
  for (;;) {
    const taken = await store.dequeueManyRollouts({ limit: 1_000_000_000, workerId: 'w' });
    calls++;
    if (taken.length === 0) break;
    largest = Math.max(largest, taken.length);
    for (const rollout of taken) ids.push(rollout.rolloutId);
  }
  return { ids, largest, calls };
}

async function expectNothingLost(store: RolloutStore, queued: Set<string>, max: number): Promise<void> {
  const { ids, largest, calls } = await drain(store);
  expect(largest).toBe(max);
  expect(calls).toBe(Math.ceil(QUEUED / max) + 1);
  expect(ids.length).toBe(QUEUED);
  expect(new Set(ids)).toEqual(queued);
  const stats = await store.statistics();
  expect(stats.queueLength).toBe(0);
  expect(stats.rolloutsByStatus.preparing).toBe(QUEUED);
}

for (const factory of [memoryRolloutFactory, sqliteRolloutFactory] as RolloutStoreFactory[]) {
  describe(`dequeue cap: ${factory.name}`, () => {
    it('a huge limit takes at most 1000 per call and loses nothing', { timeout: 120_000 }, async () => {
      const { store, cleanup } = await factory.create({ healthCheckIntervalMs: 0 });
      try {
        await expectNothingLost(store, await enqueueMany(store), 1000);
      } finally {
        await cleanup();
      }
    });

    it('the cap is configurable per store and checked', async () => {
      const { store, cleanup } = await factory.create({ healthCheckIntervalMs: 0, maxDequeuePerCall: 3 });
      try {
        await store.enqueueManyRollouts(Array.from({ length: 5 }, () => ({ input: 1 })));
        expect(await store.dequeueManyRollouts({ limit: 10 })).toHaveLength(3);
        expect(await store.dequeueManyRollouts({ limit: 10 })).toHaveLength(2);
      } finally {
        await cleanup();
      }
      await expect(factory.create({ maxDequeuePerCall: 0 })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        details: { field: 'maxDequeuePerCall' },
      });
    });
  });
}

describe.skipIf(!(await postgresAvailable()))('dequeue cap: postgres', () => {
  it('bounded statements: every statement stays far below the parameter limit', {
    timeout: 180_000,
  }, async () => {
    const schema = uniqueName('dequeue_cap');
    // A pool of our own whose connections record every statement sent.
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6 });
    let maxParams = 0;
    let maxText = 0;
    let maxCtes = 0;
    spyOnConnections(pool, (text, send, args) => {
      const config = args[0];
      const values =
        typeof config === 'string'
          ? (args[1] as unknown[] | undefined)
          : (config as { values?: unknown[] }).values;
      maxParams = Math.max(maxParams, values?.length ?? 0);
      maxText = Math.max(maxText, text.length);
      maxCtes = Math.max(maxCtes, text.match(/\bw\d+ AS \(/g)?.length ?? 0);
      return send();
    });
    const store = new PostgresRolloutStore({ pool, schema, healthCheckIntervalMs: 0 });
    try {
      const queued = await enqueueMany(store);
      maxParams = 0;
      maxText = 0;
      maxCtes = 0;
      await expectNothingLost(store, queued, 1000);
      // Before the caps one dequeue sent all its writes as one statement: 3 parameters and one CTE per
      // rollout, past PostgreSQL's 65,535 parameters above about 4,700 rollouts.
      expect(maxParams).toBeGreaterThan(0);
      expect(maxParams).toBeLessThanOrEqual(16_384);
      expect(maxCtes).toBeLessThanOrEqual(32);
      expect(maxText).toBeLessThan(64 * 1024);
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it('a statement of a store-created pool is cancelled after statementTimeoutMs: TIMEOUT', async () => {
    const schema = uniqueName('stmt_timeout');
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      poolSize: 3,
      statementTimeoutMs: 300,
      healthCheckIntervalMs: 0,
    });
    const locker = new pg.Client({ connectionString: POSTGRES_URL });
    await locker.connect();
    try {
      await store.statistics();
      // Another session holds the table: the store's next read waits for the lock until its timeout.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".agl_rollouts IN ACCESS EXCLUSIVE MODE`);
      await expect(store.queryRollouts({})).rejects.toMatchObject({
        code: 'TIMEOUT',
        details: { pgCode: '57014' },
      });
      await locker.query('ROLLBACK');
      expect((await store.queryRollouts({})).items).toEqual([]);
      expect(
        () => new PostgresRolloutStore({ connectionString: POSTGRES_URL, statementTimeoutMs: -1 }),
      ).toThrow(/statementTimeoutMs/);
    } finally {
      await locker.end();
      await store.close();
      await dropSchema(schema);
    }
  });
});

describe('dequeue cap: the event loop keeps turning', () => {
  it('sqlite: concurrent huge dequeues run one turn at a time, letting timers in between', {
    timeout: 60_000,
  }, async () => {
    const { store, cleanup } = await sqliteRolloutFactory.create({ healthCheckIntervalMs: 0 });
    try {
      await enqueueMany(store);
      // Counts event-loop turns while the dequeues run; each answer notes the turn it arrived in.
      let turns = 0;
      let done = false;
      const tick = (): void => {
        turns++;
        if (!done) setImmediate(tick);
      };
      setImmediate(tick);
      const arrivedIn = new Set<number>();
      let taken = 0;
      await Promise.all(
        Array.from({ length: 20 }, () =>
          store.dequeueManyRollouts({ limit: 1e9, workerId: 'w' }).then((r) => {
            taken += r.length;
            arrivedIn.add(turns);
          }),
        ),
      );
      done = true;
      expect(taken).toBe(QUEUED);
      // All twenty calls arrived in one turn; each ran in a turn of its own (before, one turn took all
      // 20,000 rollouts and answered every call at once).
      expect(arrivedIn.size).toBeGreaterThanOrEqual(15);
    } finally {
      await cleanup();
    }
  });
});
