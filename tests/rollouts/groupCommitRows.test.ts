// Group commit bounds a PostgreSQL transaction by rows as well as by operations: 32 concurrent dequeues of
// 1,000 rollouts used to share one transaction and lock 32,000 rows at once.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresRolloutStore } from '../../src/index.ts';
import { spyOnConnections } from '../support/pgSpy.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

describe.skipIf(!(await postgresAvailable()))('group commit: postgres rows per transaction', () => {
  it('concurrent heavy dequeues are split so no transaction takes more than 1,024 rows', {
    timeout: 120_000,
  }, async () => {
    const schema = uniqueName('group_rows');
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
    // Rows each transaction dequeued, recorded at COMMIT (per connection: one transaction at a time each).
    const perTransaction: number[] = [];
    const taken = new Map<unknown, number>();
    spyOnConnections(pool, async (text, send, _args, client) => {
      if (text === 'BEGIN') taken.set(client, 0);
      const result = (await send()) as { rowCount: number | null };
      if (text.includes('SKIP LOCKED')) taken.set(client, (taken.get(client) ?? 0) + (result.rowCount ?? 0));
      if (text === 'COMMIT') perTransaction.push(taken.get(client) ?? 0);
      return result;
    });
    const store = new PostgresRolloutStore({
      pool,
      schema,
      healthCheckIntervalMs: 0,
      maxDequeuePerCall: 400,
    });
    try {
      const queued = 32 * 400;
      for (let done = 0; done < queued; done += 3200) {
        await store.enqueueManyRollouts(Array.from({ length: 3200 }, (_, i) => ({ input: done + i })));
      }
      perTransaction.length = 0;
      const answers = await Promise.all(
        Array.from({ length: 32 }, () => store.dequeueManyRollouts({ limit: 400, workerId: 'w' })),
      );
      const ids = answers.flat().map((r) => r.rolloutId);
      expect(ids).toHaveLength(queued);
      expect(new Set(ids).size).toBe(queued);
      const dequeuing = perTransaction.filter((n) => n > 0);
      expect(Math.max(...dequeuing)).toBeLessThanOrEqual(1024);
      // 12,800 rows in transactions of at most two 400-row dequeues.
      expect(dequeuing.length).toBeGreaterThanOrEqual(16);
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });
});
