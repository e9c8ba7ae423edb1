/**
 * `pool.connect()` for a connection held across several statements (a transaction, a migration). When the
 * server goes away while such a connection is checked out, pg emits `error` on the client, and an `error`
 * event nobody listens to ends the process: every server process on that database would crash on a
 * PostgreSQL restart. The statement in progress (or the next one) still fails on its own, and pg-pool drops
 * the broken connection on release, so the listener only has to exist. One listener per client object:
 * pg reuses them across check-outs.
 */
import type { Pool, PoolClient } from 'pg';

const guarded = new WeakSet<PoolClient>();
const ignore = (): void => {};

/** A pooled connection that reports a lost server through its next statement, never as a crash. */
export async function checkOut(pool: Pool): Promise<PoolClient> {
  const client = await pool.connect();
  if (!guarded.has(client)) {
    guarded.add(client);
    client.on('error', ignore);
  }
  return client;
}
