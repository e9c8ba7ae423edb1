/**
 * Idempotency records shared through PostgreSQL by two servers (two apps in this process, each with its
 * own records object, as two processes would have): waiting for the other's running request, taking over
 * the claim of a dead one after its lease, 409 for a live one that runs too long, a failed first request
 * letting the retry run, and the table trimmed to its bounds.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type EnqueueRolloutRequest, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { PostgresIdempotencyRecords } from '../../src/server/idempotencyPostgres.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const URL_PATH = '/v1/agl/queues/rollouts/enqueue';
const request = (key: string) => ({
  method: 'POST' as const,
  url: URL_PATH,
  headers: { 'idempotency-key': key },
  payload: { rollouts: [{ input: key }] },
});
// The scoped key the plugin claims for an anonymous caller.
const scoped = (key: string) => `\u0000${URL_PATH}\u0000${key}`;

describe.skipIf(!pgOk)('idempotency records shared by server processes', () => {
  const schema = uniqueName('idemrec');
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const records = () =>
    new PostgresIdempotencyRecords({ connectionString: POSTGRES_URL, schema, poolSize: 2 });
  const closers: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
    await rollouts.close();
    await dropSchema(schema);
  });
  async function server(leaseMs = 10_000) {
    const app = await createServer({ rollouts, idempotencyRecords: records(), idempotencyLeaseMs: leaseMs });
    closers.push(() => app.close());
    return app;
  }
  const count = async (input: string) =>
    (await rollouts.queryRollouts()).items.filter((r) => r.input === input).length;

  it('a retry on the other server waits for the running request and replays its answer', async () => {
    const [a, b] = [await server(), await server()];
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const running = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const enqueue = rollouts.enqueueManyRollouts.bind(rollouts);
    rollouts.enqueueManyRollouts = async (requests: EnqueueRolloutRequest[]) => {
      entered();
      await slow;
      return enqueue(requests);
    };
    try {
      const first = a.inject(request('slow'));
      // The first request holds the key (it reached the store) before the retry is sent.
      await running;
      const retry = b.inject(request('slow'));
      await sleep(100);
      release();
      const [x, y] = await Promise.all([first, retry]);
      expect([x.statusCode, y.statusCode]).toEqual([201, 201]);
      expect(y.headers['idempotent-replayed']).toBe('true');
      expect(y.body).toBe(x.body);
      expect(await count('slow')).toBe(1);
    } finally {
      rollouts.enqueueManyRollouts = enqueue;
    }
  }, 60_000);

  it('claims the keys of one turn in one statement: distinct keys all run, a repeated one runs once', async () => {
    // Two servers on one records object: their claims of a turn meet in one batch, the same key twice.
    const shared = records();
    const onShared = async () => {
      const app = await createServer({ rollouts, idempotencyRecords: shared });
      closers.push(() => app.close());
      return app;
    };
    const [a, b] = [await onShared(), await onShared()];
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.inject(request(`turn-${i}`))),
      a.inject(request('turn-twice')),
      b.inject(request('turn-twice')),
    ]);
    expect(answers.map((x) => x.statusCode)).toEqual(answers.map(() => 201));
    for (let i = 0; i < 20; i++) expect(await count(`turn-${i}`)).toBe(1);
    expect(await count('turn-twice')).toBe(1);
    expect(answers.at(-1)!.body).toBe(answers.at(-2)!.body);
  }, 60_000);

  it('takes over the claim of a server that died, once its lease ran out', async () => {
    const dead = records();
    closers.push(() => dead.close());
    expect((await dead.claim(scoped('orphan'), 300)).kind).toBe('claimed');
    const b = await server(300);
    const started = Date.now();
    const answer = await b.inject(request('orphan'));
    expect(answer.statusCode).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await count('orphan')).toBe(1);
  }, 60_000);

  it('answers 409 with Retry-After when the other server is still running it after the lease', async () => {
    const live = records();
    closers.push(() => live.close());
    const claim = await live.claim(scoped('long'), 300);
    if (claim.kind !== 'claimed') throw new Error('not claimed');
    const renewal = setInterval(() => void live.renew(scoped('long'), claim.token, 300), 100);
    try {
      const b = await server(300);
      const answer = await b.inject(request('long'));
      expect(answer.statusCode).toBe(409);
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.json().error.code).toBe('ALREADY_EXISTS');
      expect(await count('long')).toBe(0);
    } finally {
      clearInterval(renewal);
    }
  }, 60_000);

  it('lets the retry run when the first request failed', async () => {
    const [a, b] = [await server(), await server()];
    const enqueue = rollouts.enqueueManyRollouts.bind(rollouts);
    rollouts.enqueueManyRollouts = async () => {
      throw new Error('connection lost');
    };
    try {
      expect((await a.inject(request('failed'))).statusCode).toBe(500);
    } finally {
      rollouts.enqueueManyRollouts = enqueue;
    }
    const retry = await b.inject(request('failed'));
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(await count('failed')).toBe(1);
  }, 60_000);

  it('trims the table to its entry and byte bounds, newest kept', async () => {
    const trimmed = records();
    closers.push(() => trimmed.close());
    // The claim the 409 test held (lease 300 ms) runs out first, so only this test's claim is left.
    await sleep(400);
    for (let i = 0; i < 5; i++) {
      const claim = await trimmed.claim(`trim-${i}`, 10_000);
      if (claim.kind !== 'claimed') throw new Error('not claimed');
      await trimmed.complete(
        `trim-${i}`,
        claim.token,
        { status: 200, contentType: undefined, payload: 'x' },
        60_000,
      );
      await sleep(5);
    }
    const held = await trimmed.claim('trim-running', 10_000);
    await trimmed.trim(2, 1_000_000);
    const db = new pg.Client({ connectionString: POSTGRES_URL });
    await db.connect();
    try {
      const { rows } = await db.query(
        `SELECT count(*) FILTER (WHERE owner IS NULL)::int AS answers, count(*) FILTER (WHERE owner IS NOT NULL)::int AS claims
         FROM ${schema}.agentstate_idempotency`,
      );
      // Two answers kept (of the 5 here and the other tests'), the running claim untouched.
      expect(rows[0]).toEqual({ answers: 2, claims: 1 });
    } finally {
      await db.end();
    }
    expect(held.kind).toBe('claimed');
    expect((await trimmed.claim('trim-4', 10_000)).kind).toBe('answered');
    expect((await trimmed.claim('trim-0', 10_000)).kind).toBe('claimed');
  }, 60_000);
});
