/**
 * AgentStateClient with several endpoints: a request that cannot reach its server, or gets a 5xx, is
 * retried on the next endpoint, which then stays current; one shared store behind both servers means the
 * runner goes on where it was.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AgentStateClient, InMemoryRolloutStore, InvalidInputError } from '../../src/index.ts';
import { createServer, listenServer } from '../../src/server/index.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(rollouts: InMemoryRolloutStore) {
  const app = await createServer({ rollouts });
  const url = await listenServer(app, { host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  return { app, url };
}

describe('AgentStateClient endpoints', () => {
  it('fails over to the next endpoint when its server goes away, and stays there', async () => {
    const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    cleanups.push(() => rollouts.close());
    const a = await serve(rollouts);
    const b = await serve(rollouts);
    const client = new AgentStateClient({ endpoints: [a.url, b.url], retryDelayMs: 5 });
    cleanups.push(async () => client.close());
    expect(client.url).toBe(a.url);
    const first = await client.enqueueRollout({ input: 1 });
    await a.app.close();
    // The write goes to b after a's connection is refused; nothing is lost or doubled.
    const second = await client.enqueueRollout({ input: 2 });
    expect(client.url).toBe(b.url);
    const taken = await client.dequeueManyRollouts({ limit: 10 });
    expect(taken.map((r) => r.rolloutId)).toEqual([first.rolloutId, second.rolloutId]);
  });

  it('moves on from a server answering 5xx', async () => {
    const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    cleanups.push(() => rollouts.close());
    const good = await serve(rollouts);
    const failing = await createServer({ rollouts });
    failing.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/v1/'))
        await reply.code(503).send({ error: { code: 'UNAVAILABLE', message: 'x' } });
    });
    const failingUrl = await listenServer(failing, { host: '127.0.0.1', port: 0 });
    cleanups.push(() => failing.close());
    const client = new AgentStateClient({ url: failingUrl, endpoints: [good.url], retryDelayMs: 5 });
    cleanups.push(async () => client.close());
    expect(client.endpoints).toEqual([failingUrl, good.url]);
    const rollout = await client.enqueueRollout({ input: 'x' });
    expect(client.url).toBe(good.url);
    expect((await rollouts.getRolloutById(rollout.rolloutId))?.input).toBe('x');
  });

  it('refuses to be built without a usable url', () => {
    expect(() => new AgentStateClient({})).toThrow(InvalidInputError);
    expect(() => new AgentStateClient({ endpoints: ['not a url'] })).toThrow(InvalidInputError);
  });
});
