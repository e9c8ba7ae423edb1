/**
 * Idempotency keys across two `agentstate serve` processes on one PostgreSQL schema: a client that retries
 * a write on the other server (fail-over) with the same Idempotency-Key gets the first answer, and the
 * write happens once, whether the two requests arrive one after the other or at the same moment.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startServe } from '../support/serveProcess.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();
const KEYS = 40;

/** POSTs one enqueue with `key` to `url`. */
async function enqueue(url: string, key: string, input: unknown) {
  const response = await fetch(`${url}/v1/agl/queues/rollouts/enqueue`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ rollouts: [{ input }] }),
  });
  return {
    status: response.status,
    replayed: response.headers.get('idempotent-replayed'),
    body: await response.text(),
  };
}

describe.skipIf(!pgOk)('idempotency keys across two server processes', () => {
  const schema = uniqueName('idem');
  const servers: ServeProcess[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await dropSchema(schema);
  });

  it('writes once per key: sent to one server then the other, or to both at once', async () => {
    const args = ['--postgres', POSTGRES_URL, '--postgres-schema', schema, '--postgres-pool', '4'];
    servers.push(await startServe(args));
    servers.push(await startServe(args));
    const [a, b] = servers.map((s) => s.url) as [string, string];

    // One after the other: the retry on the second server replays the first server's answer.
    const first = await enqueue(a, 'sequential', 'sequential');
    const retry = await enqueue(b, 'sequential', 'sequential');
    expect(first.status).toBe(201);
    expect(retry).toEqual({ status: 201, replayed: 'true', body: first.body });

    // At the same moment, many keys: one of each pair runs, the other waits for its answer.
    const pairs = await Promise.all(
      Array.from({ length: KEYS }, (_, i) =>
        Promise.all([enqueue(a, `both-${i}`, i), enqueue(b, `both-${i}`, i)]),
      ),
    );
    for (const [x, y] of pairs) {
      expect([x.status, y.status]).toEqual([201, 201]);
      expect(y.body).toBe(x.body);
      expect([x.replayed, y.replayed].filter((r) => r === 'true')).toHaveLength(1);
    }

    const db = new pg.Client({ connectionString: POSTGRES_URL });
    await db.connect();
    try {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.agl_rollouts`);
      expect(rows[0].n).toBe(KEYS + 1);
    } finally {
      await db.end();
    }
  }, 120_000);
});
