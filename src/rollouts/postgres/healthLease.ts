/**
 * The cluster's health-check lease: one row of `agl_meta` naming the process that runs the timed health
 * check and until when (database clock, so machines with skewed clocks agree). The holder renews it on
 * every tick; another process takes it only once it has expired (the holder died or stalled), so with N
 * processes the timed check runs once per interval, not N times. A process that closes gives it up, so a
 * successor takes over at its next tick rather than after the lease runs out.
 */
import type { StatementRunner } from '../../shared/postgres/coalescedWrites.ts';

const KEY = 'health_leader';

/** Takes or renews the lease for `owner`; true when this owner holds it for the next `leaseMs`. */
export async function acquireHealthLease(
  q: StatementRunner,
  metaTable: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  // value = "<owner> <expiry in epoch seconds>"; the row lock of the upsert serializes contenders.
  const { rows } = await q.query(
    `INSERT INTO ${metaTable} (key, value)
      VALUES ('${KEY}', $1::text || ' ' || (extract(epoch FROM clock_timestamp()) + $2::float8 / 1000)::text)
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
      WHERE split_part(${metaTable}.value, ' ', 1) = $1::text
         OR split_part(${metaTable}.value, ' ', 2)::float8 < extract(epoch FROM clock_timestamp())
      RETURNING 1 AS ok`,
    [owner, leaseMs],
  );
  return rows.length > 0;
}

/** Gives the lease up if `owner` holds it. */
export async function releaseHealthLease(
  q: StatementRunner,
  metaTable: string,
  owner: string,
): Promise<void> {
  await q.query(`DELETE FROM ${metaTable} WHERE key = '${KEY}' AND split_part(value, ' ', 1) = $1::text`, [
    owner,
  ]);
}
