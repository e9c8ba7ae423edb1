/** The PostgreSQL server the benchmarks use, and what they do with it besides measuring. */
import pg from 'pg';
import { POSTGRES_URL, reachable } from '../tests/support/services.ts';

// The server and its schemas are the tests' (AGENTSTATE_TEST_POSTGRES).
export { dropSchema, POSTGRES_URL } from '../tests/support/services.ts';

/** Bytes PostgreSQL uses for every table (with indexes and TOAST) of a schema. */
export async function schemaBytes(schema: string): Promise<number> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await client.end();
  }
}

/** Whether PostgreSQL answers at POSTGRES_URL. */
export function postgresReachable(): Promise<boolean> {
  return reachable(POSTGRES_URL, 5432);
}
