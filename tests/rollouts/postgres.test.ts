// Behaviour only the PostgreSQL rollout store has: schemas, pools, versions, and writers on two handles.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptStateError, PostgresRolloutStore } from '../../src/index.ts';
import { spyOnConnections, spyOnPoolQueries } from '../support/pgSpy.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('PostgresRolloutStore', () => {
  const schemas: string[] = [];
  const fresh = (): string => {
    const schema = uniqueName('rollouts_pg');
    schemas.push(schema);
    return schema;
  };
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  it('refuses a bad schema name or a missing connection before touching the server', () => {
    expect(() => new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema: 'a"; DROP' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    expect(() => new PostgresRolloutStore({})).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    for (const concurrentCommits of [0, 1.5, Number.NaN]) {
      expect(
        () =>
          new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema: 'unused', concurrentCommits }),
      ).toThrow(
        expect.objectContaining({
          code: 'INVALID_INPUT',
          details: { field: 'concurrentCommits', value: concurrentCommits },
        }),
      );
    }
  });

  it('reports an unreachable server as UNAVAILABLE, on reads and writes', async () => {
    const store = new PostgresRolloutStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/test',
      schema: fresh(),
      healthCheckIntervalMs: 0,
    });
    await expect(store.queryRollouts()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(store.enqueueRollout({ input: 1 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await store.close();
  });

  it('creates its schema once when many stores start at the same moment', async () => {
    const schema = fresh();
    const stores = Array.from(
      { length: 4 },
      () => new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, healthCheckIntervalMs: 0 }),
    );
    const made = await Promise.all(stores.map((store, i) => store.enqueueRollout({ input: i })));
    expect(made).toHaveLength(4);
    expect((await stores[0]!.statistics()).queueLength).toBe(4);
    for (const store of stores) await store.close();
  });

  it('uses a pool it is given and leaves it open on close', async () => {
    const schema = fresh();
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
    const store = new PostgresRolloutStore({ pool, schema, healthCheckIntervalMs: 0 });
    const rollout = await store.startRollout({ input: 'x' });
    const wait = store.waitForRollouts({ rolloutIds: [rollout.rolloutId], timeoutMs: 5000 });
    await store.updateAttempt(rollout.rolloutId, 'latest', { status: 'succeeded' });
    expect((await wait).map((r) => r.status)).toEqual(['succeeded']);
    await store.close();
    const { rows } = await pool.query(`SELECT COUNT(*)::int AS n FROM "${schema}".agl_rollouts`);
    expect(rows[0].n).toBe(1);
    await pool.end();
  });

  it('refuses a schema written by a newer version, without changing it', async () => {
    const schema = fresh();
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      healthCheckIntervalMs: 0,
    });
    await store.enqueueRollout({ input: 1 });
    await store.close();
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`UPDATE "${schema}".agl_meta SET value = '99' WHERE key = 'schema_version'`);
    const newer = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      healthCheckIntervalMs: 0,
    });
    await expect(newer.queryRollouts()).rejects.toBeInstanceOf(CorruptStateError);
    await newer.close();
    const { rows } = await client.query(
      `SELECT value FROM "${schema}".agl_meta WHERE key = 'schema_version'`,
    );
    expect(rows[0].value).toBe('99');
    await client.end();
  });

  it('loses no change when two handles write the same attempt at once', async () => {
    const schema = fresh();
    const a = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, healthCheckIntervalMs: 0 });
    const b = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, healthCheckIntervalMs: 0 });
    for (let round = 0; round < 10; round++) {
      const r = await a.startRollout({ input: round, workerId: 'w' });
      // A heartbeat (span) on one handle and a metadata change on the other: each must survive the other.
      await Promise.all([
        a.addSpan({
          rolloutId: r.rolloutId,
          attemptId: r.attempt.attemptId,
          traceId: 't',
          spanId: 's',
          name: 'n',
        }),
        b.updateAttempt(r.rolloutId, r.attempt.attemptId, { metadata: { round } }),
      ]);
      const latest = await a.getLatestAttempt(r.rolloutId);
      expect(latest).toMatchObject({ status: 'running', metadata: { round } });
      expect(latest?.lastHeartbeatTime).not.toBeNull();
    }
    await a.close();
    await b.close();
  });

  it.each([
    ['pipelined', true],
    ['one statement at a time', false],
  ])(
    'takes the head of the queue for the dequeues of one turn in call order, once when pipelined (%s)',
    async (_, pipeline) => {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6, pipeline });
      const texts: string[] = [];
      spyOnConnections(pool, (text, send) => {
        texts.push(text);
        return send();
      });
      const store = new PostgresRolloutStore({ pool, schema: fresh(), healthCheckIntervalMs: 0 });
      const queued = await store.enqueueManyRollouts(Array.from({ length: 15 }, (_, i) => ({ input: i })));
      texts.length = 0;
      // Twelve runners ask in the same turn, three of them for two rollouts: one group-commit batch.
      const taken = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          i % 5 === 1
            ? store.dequeueManyRollouts({ limit: 2, workerId: `w${i}` })
            : store.dequeueRollout({ workerId: `w${i}` }).then((r) => (r === null ? [] : [r])),
        ),
      );
      expect(taken.map((rollouts) => rollouts.length)).toEqual([1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2]);
      expect(taken.flat().map((r) => r.rolloutId)).toEqual(queued.map((r) => r.rolloutId));
      // Without pipelining the operations run one at a time (one statement in flight), each its own take.
      expect(texts.filter((text) => text.includes('SKIP LOCKED'))).toHaveLength(pipeline ? 1 : 12);
      // Each got its own attempt, and the queue is empty.
      expect(new Set(taken.flat().map((r) => r.attempt.attemptId)).size).toBe(15);
      expect(await store.dequeueRollout()).toBeNull();
      await store.close();
      await pool.end();
    },
  );

  it('sends one statement at a time on a pool passed in without pipeline mode, however many calls share a batch', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6 });
    let mostInFlight = 0;
    const inFlight = new Map<unknown, number>();
    spyOnConnections(pool, (_, send, args, client) => {
      const now = (inFlight.get(client) ?? 0) + 1;
      inFlight.set(client, now);
      mostInFlight = Math.max(mostInFlight, now);
      const settled = () => {
        inFlight.set(client, inFlight.get(client)! - 1);
      };
      // pg-pool's own reads pass a callback (and get no promise back).
      const callback = args.at(-1);
      if (typeof callback === 'function') {
        args[args.length - 1] = (...answer: unknown[]) => {
          settled();
          return (callback as (...a: unknown[]) => unknown)(...answer);
        };
        return send();
      }
      const result = send() as Promise<unknown>;
      result.then(settled, settled);
      return result;
    });
    const store = new PostgresRolloutStore({ pool, schema: fresh(), healthCheckIntervalMs: 0 });
    await store.enqueueManyRollouts(Array.from({ length: 12 }, (_, i) => ({ input: i })));
    // Dequeues, spans and updates of one turn: one batch, whose operations would run side by side.
    const taken = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.dequeueRollout({ workerId: `w${i}` })),
    );
    await Promise.all(
      taken.flatMap((r) => [
        store.addSpan({
          rolloutId: r!.rolloutId,
          attemptId: r!.attempt.attemptId,
          traceId: 't',
          spanId: 's',
          name: 'n',
        }),
        store.updateAttempt(r!.rolloutId, r!.attempt.attemptId, { metadata: { seen: true } }),
      ]),
    );
    await Promise.all(
      taken.map((r) => store.updateAttempt(r!.rolloutId, r!.attempt.attemptId, { status: 'succeeded' })),
    );
    expect(mostInFlight).toBe(1);
    expect(new Set(taken.map((r) => r!.rolloutId)).size).toBe(12);
    const spans = await store.querySpans(taken[0]!.rolloutId);
    expect(spans.items.map((span) => span.spanId)).toEqual(['s']);
    expect((await store.statistics()).queueLength).toBe(0);
    await store.close();
    await pool.end();
  });

  it('merges takes past the literal-limit texts: 20 runners asking for 2 get 40 rollouts in queue order', async () => {
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema: fresh(),
      healthCheckIntervalMs: 0,
    });
    const queued = await store.enqueueManyRollouts(Array.from({ length: 45 }, (_, i) => ({ input: i })));
    const taken = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.dequeueManyRollouts({ limit: 2, workerId: `w${i}` })),
    );
    expect(taken.map((rollouts) => rollouts.length)).toEqual(Array.from({ length: 20 }, () => 2));
    expect(taken.flat().map((r) => r.rolloutId)).toEqual(queued.slice(0, 40).map((r) => r.rolloutId));
    expect((await store.dequeueManyRollouts({ limit: 10 })).map((r) => r.rolloutId)).toEqual(
      queued.slice(40).map((r) => r.rolloutId),
    );
    await store.close();
  });

  it.each([
    [4, undefined],
    [1, 1],
  ])(
    'commits at most %i group-commit batches at once; calls arriving meanwhile share the next ones',
    async (most, concurrentCommits) => {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 24, pipeline: true });
      let open = 0;
      let mostOpen = 0;
      let commits = 0;
      spyOnConnections(pool, (text, send) => {
        const result = send();
        if (text === 'BEGIN') mostOpen = Math.max(mostOpen, ++open);
        if (text === 'COMMIT' || text === 'ROLLBACK') {
          commits++;
          const closed = () => {
            open--;
          };
          (result as Promise<unknown>).then(closed, closed);
        }
        return result;
      });
      const store = new PostgresRolloutStore({
        pool,
        schema: fresh(),
        healthCheckIntervalMs: 0,
        concurrentCommits,
      });
      await store.enqueueRollout({ input: 'warm-up' });
      commits = 0;
      // 200 calls, one per event-loop turn, as requests of many HTTP clients arrive.
      const calls: Array<Promise<unknown>> = [];
      for (let i = 0; i < 200; i++) {
        calls.push(store.enqueueRollout({ input: i }));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(calls);
      expect(mostOpen).toBeLessThanOrEqual(most);
      expect(commits).toBeLessThan(200);
      expect((await store.statistics()).queueLength).toBe(201);
      await store.close();
      await pool.end();
    },
  );

  it('issues span sequence ids without gaps or repeats across handles', async () => {
    const schema = fresh();
    const a = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, healthCheckIntervalMs: 0 });
    const b = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, healthCheckIntervalMs: 0 });
    const r = await a.startRollout({ input: 1 });
    const ids = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? a : b).getNextSpanSequenceId(r.rolloutId, r.attempt.attemptId),
      ),
    );
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await a.close();
    await b.close();
  });

  // A pool that counts health-check probes and sweeps, and whose probes sent between `hold()` and
  // `release()` answer only at `release()` (the server answers at once: their snapshots are taken then).
  function gatedPool() {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6, pipeline: true } as pg.PoolConfig);
    let gate: Promise<void> | undefined;
    let open = () => {};
    const sent = { probes: 0, sweeps: 0 };
    spyOnPoolQueries(pool, (text, send) => {
      if (!text.includes('ORDER BY deadline LIMIT 1')) return send();
      sent.probes++;
      const held = gate;
      return send().then(async (answer) => {
        await held;
        return answer;
      });
    });
    spyOnConnections(pool, (text, send) => {
      if (text.includes('pg_advisory_xact_lock')) sent.sweeps++;
      return send();
    });
    const hold = () => {
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
    };
    const release = () => {
      gate = undefined;
      open();
    };
    // Probes sent from now on answer at once; those held so far stay held until `release()`.
    const pass = () => {
      gate = undefined;
    };
    return { pool, hold, pass, release, sent };
  }
  const timeoutConfig = (timeoutSeconds: number) => ({
    timeoutSeconds,
    maxAttempts: 2,
    retryCondition: ['timeout' as const],
  });

  it('lets the calls made while a health check is on its way share the next one, which sees what they saw', async () => {
    let now = Date.UTC(2026, 0, 1);
    const { pool, hold, release, sent } = gatedPool();
    const schema = fresh();
    const store = new PostgresRolloutStore({ pool, schema, now: () => now, healthCheckIntervalMs: 0 });
    const other = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      now: () => now,
      healthCheckIntervalMs: 0,
    });
    const [rollout] = await store.enqueueManyRollouts([{ input: 1, config: timeoutConfig(3600) }]);
    await store.dequeueRollout({ workerId: 'w' });
    sent.probes = 0;
    sent.sweeps = 0;
    hold();
    const first = store.getRolloutById(rollout!.rolloutId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Another process shortens the timeout while the first probe is on its way: the attempt is due now.
    now += 10_000;
    await other.updateRollout(rollout!.rolloutId, { config: timeoutConfig(1) });
    const later = Array.from({ length: 20 }, () => store.getRolloutById(rollout!.rolloutId));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sent.probes).toBe(1);
    release();
    await first;
    // The calls made after that write all see it: one more probe, one sweep, and the rollout went back to
    // the queue with its attempt timed out.
    expect((await Promise.all(later)).map((r) => r?.status)).toEqual(Array(20).fill('requeuing'));
    expect(sent.probes).toBe(2);
    expect(sent.sweeps).toBe(1);
    expect((await store.queryAttempts(rollout!.rolloutId)).items.map((a) => a.status)).toEqual(['timeout']);
    await other.close();
    await store.close();
    await pool.end();
  });

  it('does not hold calls for more than a second behind a health check that does not answer', async () => {
    const { pool, hold, pass, release, sent } = gatedPool();
    const store = new PostgresRolloutStore({ pool, schema: fresh(), healthCheckIntervalMs: 0 });
    const [rollout] = await store.enqueueManyRollouts([{ input: 1 }]);
    hold();
    const stuck = store.getRolloutById(rollout!.rolloutId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    pass();
    // Made while the stuck check runs: its own check starts after at most a second, and it answers while
    // the first is still stuck (waiting for the stuck one, it would never answer).
    expect((await store.getRolloutById(rollout!.rolloutId))?.rolloutId).toBe(rollout!.rolloutId);
    expect(sent.probes).toBe(2);
    release();
    expect((await stuck)?.rolloutId).toBe(rollout!.rolloutId);
    await store.close();
    await pool.end();
  });

  it('sweeps once for all the calls sharing a health check that finds an attempt due', async () => {
    let now = Date.UTC(2026, 0, 1);
    const { pool, sent } = gatedPool();
    const store = new PostgresRolloutStore({
      pool,
      schema: fresh(),
      now: () => now,
      healthCheckIntervalMs: 0,
    });
    const rollouts = await store.enqueueManyRollouts(
      Array.from({ length: 3 }, (_, i) => ({ input: i, config: timeoutConfig(1) })),
    );
    await store.dequeueManyRollouts({ limit: 3, workerId: 'w' });
    now += 5000;
    sent.probes = 0;
    sent.sweeps = 0;
    const seen = await Promise.all(
      Array.from({ length: 60 }, (_, i) => store.getRolloutById(rollouts[i % 3]!.rolloutId)),
    );
    expect(seen.every((r) => r?.status === 'requeuing')).toBe(true);
    expect(sent.sweeps).toBe(1);
    expect(sent.probes).toBe(1);
    await store.close();
    await pool.end();
  });

  it('sweeps expired attempts once when several handles run the health check together', async () => {
    const schema = fresh();
    let now = Date.UTC(2026, 0, 1);
    const clock = () => now;
    const handles = Array.from(
      { length: 3 },
      () =>
        new PostgresRolloutStore({
          connectionString: POSTGRES_URL,
          schema,
          now: clock,
          healthCheckIntervalMs: 0,
        }),
    );
    const rollouts = await handles[0]!.enqueueManyRollouts(
      Array.from({ length: 20 }, (_, i) => ({
        input: i,
        config: { timeoutSeconds: 1, maxAttempts: 2, retryCondition: ['timeout'] },
      })),
    );
    await handles[0]!.dequeueManyRollouts({ limit: 20, workerId: 'w' });
    now += 5000;
    await Promise.all(handles.map((h) => h.runHealthCheck()));
    for (const r of rollouts) {
      const attempts = await handles[1]!.queryAttempts(r.rolloutId);
      // Exactly one timeout per rollout, and it went back to the queue once.
      expect(attempts.items.map((x) => x.status)).toEqual(['timeout']);
      expect((await handles[2]!.getRolloutById(r.rolloutId))?.status).toBe('requeuing');
    }
    expect((await handles[0]!.statistics()).queueLength).toBe(20);
    for (const h of handles) await h.close();
  });
});
