/**
 * Real PostgreSQL and Redis for tests. Locally a missing server skips its tests with a loud message;
 * under CI=true a missing server fails the run, so a green CI always means the servers were exercised.
 */
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import pg from 'pg';

/** Connection string of the test PostgreSQL (override with AGENTSTATE_TEST_POSTGRES). */
export const POSTGRES_URL = process.env.AGENTSTATE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
/** URL of the test Redis (override with AGENTSTATE_TEST_REDIS). */
export const REDIS_URL = process.env.AGENTSTATE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

const START_HINT = {
  postgres: 'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  redis: "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
} as const;

/** Whether a TCP connection to `url`'s host and port (or `fallbackPort`) opens within a second. */
export function reachable(url: string, fallbackPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || fallbackPort), hostname, () => done(true));
  });
}

async function available(service: 'postgres' | 'redis'): Promise<boolean> {
  const ok = service === 'postgres' ? await reachable(POSTGRES_URL, 5432) : await reachable(REDIS_URL, 6379);
  if (ok) return true;
  const message = `${service} is not reachable (${service === 'postgres' ? POSTGRES_URL : REDIS_URL}); ${START_HINT[service]}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  console.warn(`\n!!! SKIPPING ${service.toUpperCase()} TESTS: ${message}\n`);
  return false;
}

/** Whether PostgreSQL is there (top-level await in a test file, then `describe.skipIf(!pgOk)`). */
export const postgresAvailable = (): Promise<boolean> => available('postgres');
/** Whether Redis is there. */
export const redisAvailable = (): Promise<boolean> => available('redis');

/** A unique lowercase name for this run: schema names, key prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema.replace(/"/g, '""')}" CASCADE`);
  } finally {
    await client.end();
  }
}
