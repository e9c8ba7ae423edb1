/**
 * One transaction on a connection of its own (migrations, table creation, a restore): BEGIN, the body,
 * COMMIT; on any error a ROLLBACK and the body's error thrown. A connection that cannot even roll back is
 * broken and is dropped instead of going back to the pool.
 */
import type { Pool, PoolClient } from 'pg';
import { checkOut } from './checkout.ts';

/** Runs `body` in one transaction on a pooled connection (see the file comment). */
export async function inTransaction<T>(pool: Pool, body: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await checkOut(pool);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError as Error;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
