/**
 * Pipelined transactions on PostgreSQL: BEGIN travels with the first statement and the last writes with
 * COMMIT. A write the database refuses still fails only its own call of a group-commit batch, whether it is
 * the first call of the batch or the last one (whose writes went out with the COMMIT).
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRolloutStore } from '../../src/rollouts/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('pipelined PostgreSQL transactions', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  it('fails only the call whose write the database refuses, first or last in its batch', async () => {
    const schema = uniqueName('pipeline');
    schemas.push(schema);
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      healthCheckIntervalMs: 0,
    });
    try {
      await store.statistics();
      // A trigger makes the database refuse one worker id when its row is written: the refusal comes from
      // the buffered write itself, after every check the store makes.
      const db = new pg.Client({ connectionString: POSTGRES_URL });
      await db.connect();
      try {
        await db.query(`CREATE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.worker_id = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$`);
        await db.query(`CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON ${schema}.agl_workers
          FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse()`);
      } finally {
        await db.end();
      }
      const refused = 'refused';
      for (const ids of [
        ['w-first', refused],
        [refused, 'w-last'],
      ]) {
        const settled = await Promise.allSettled(ids.map((id) => store.updateWorker(id)));
        expect(settled.map((s) => s.status)).toEqual(
          ids.map((id) => (id === refused ? 'rejected' : 'fulfilled')),
        );
      }
      expect((await store.queryWorkers()).items.map((w) => w.workerId).sort()).toEqual(['w-first', 'w-last']);
      // Two round trips for a lone write, whatever the load: BEGIN + first statement, last writes + COMMIT.
      await store.enqueueRollout({ input: 1 });
      expect(store.operationalStats().roundTrips.enqueueRollout).toEqual({ operations: 1, roundTrips: 2 });
    } finally {
      await store.close();
    }
  }, 30_000);
});
