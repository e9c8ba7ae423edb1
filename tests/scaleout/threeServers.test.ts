/**
 * Three `agentstate serve` processes on one PostgreSQL schema, 64 runners spread round-robin over them
 * (each runner's client lists all three, starting at its own). Scaled for CI: 2,000 rollouts, each
 * enqueue -> dequeue -> 2 spans -> succeeded. None is dequeued twice, every span is stored, and a long-poll
 * wait opened on one server is answered when the completing write lands on another.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../src/client/index.ts';
import { rotate, type ServeProcess, startServe } from '../support/serveProcess.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();
const SERVERS = 3;
const RUNNERS = 64;
const ROLLOUTS = 2000;

describe.skipIf(!pgOk)('three server processes on one PostgreSQL', () => {
  const schema = uniqueName('three');
  const servers: ServeProcess[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await dropSchema(schema);
  });

  it(`runs ${ROLLOUTS} rollouts with ${RUNNERS} runners round-robin: each dequeued once, every span stored, waits answered across processes`, async () => {
    // Small pools: these tests share the database's connection limit with the rest of the suite. Two
    // batches committing at once per server (of its four writers), as an operator may set it.
    const args = [
      '--postgres',
      POSTGRES_URL,
      '--postgres-schema',
      schema,
      '--postgres-pool',
      '6',
      '--postgres-commits',
      '2',
    ];
    // The first creates the schema; the others start in parallel after it.
    servers.push(await startServe(args));
    servers.push(...(await Promise.all([startServe(args), startServe(args)])));
    const urls = servers.map((s) => s.url);
    expect(new Set(urls).size).toBe(SERVERS);

    const admin = new AgentStateClient({ endpoints: urls });
    const ids: string[] = [];
    for (let i = 0; i < ROLLOUTS; i += 500) {
      const batch = await admin.enqueueManyRollouts(
        Array.from({ length: Math.min(500, ROLLOUTS - i) }, (_, j) => ({ input: { n: i + j } })),
      );
      ids.push(...batch.map((r) => r.rolloutId));
    }

    // One waiter per server, each on rollouts most of which another server will complete.
    const watched = ids.filter((_, i) => i % 97 === 0);
    const waiters = urls.map((url) =>
      new AgentStateClient({ url }).waitForRollouts({ rolloutIds: watched, timeoutMs: 110_000 }),
    );

    const dequeued: string[] = [];
    const completedBy = new Map<string, string>();
    await Promise.all(
      Array.from({ length: RUNNERS }, async (_, runner) => {
        const client = new AgentStateClient({ endpoints: rotate(urls, runner) });
        const workerId = `runner-${runner}`;
        for (;;) {
          const rollout = await client.dequeueRollout({ workerId });
          if (rollout === null) break;
          dequeued.push(rollout.rolloutId);
          const { attemptId } = rollout.attempt;
          await client.addManySpans(
            [1, 2].map((sequenceId) => ({
              rolloutId: rollout.rolloutId,
              attemptId,
              sequenceId,
              traceId: `t-${rollout.rolloutId}`,
              spanId: `s-${sequenceId}`,
              name: `step-${sequenceId}`,
              attributes: { runner, sequenceId },
            })),
          );
          await client.updateAttempt(rollout.rolloutId, attemptId, { status: 'succeeded', workerId });
          completedBy.set(rollout.rolloutId, client.url);
        }
        client.close();
      }),
    );

    expect(dequeued).toHaveLength(ROLLOUTS);
    expect(new Set(dequeued).size).toBe(ROLLOUTS);
    // Every server took a share of the work.
    const perServer = urls.map((url) => [...completedBy.values()].filter((u) => u === url).length);
    for (const count of perServer) expect(count).toBeGreaterThan(0);

    // Each waiter got every watched rollout, succeeded; for each, some of them were completed elsewhere.
    const answers = await Promise.all(waiters);
    for (const [i, answer] of answers.entries()) {
      expect(answer.map((r) => r.rolloutId).sort()).toEqual([...watched].sort());
      for (const rollout of answer) expect(rollout.status).toBe('succeeded');
      expect(watched.some((id) => completedBy.get(id) !== urls[i])).toBe(true);
    }

    const db = new pg.Client({ connectionString: POSTGRES_URL });
    await db.connect();
    try {
      const spans = await db.query(`SELECT count(*)::int AS n FROM ${schema}.agl_spans`);
      expect(spans.rows[0].n).toBe(2 * ROLLOUTS);
      const statuses = await db.query(
        `SELECT status, count(*)::int AS n FROM ${schema}.agl_rollouts GROUP BY status`,
      );
      expect(statuses.rows).toEqual([{ status: 'succeeded', n: ROLLOUTS }]);
      const attempts = await db.query(`SELECT count(*)::int AS n FROM ${schema}.agl_attempts`);
      expect(attempts.rows[0].n).toBe(ROLLOUTS);
    } finally {
      await db.end();
    }
    admin.close();
  }, 180_000);
});
