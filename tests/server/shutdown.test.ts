import { describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { listenServer } from '../../src/server/listen.ts';

describe('graceful shutdown', () => {
  it('lets a request in flight finish, then closes the stores', async () => {
    const store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    const app = await createServer({ rollouts: store, closeStores: true });
    const url = await listenServer(app, { host: '127.0.0.1', port: 0 });
    const rollout = await store.startRollout({ input: 'slow' });
    // A wait that lasts 1 s is in flight when close() is called.
    const inFlight = fetch(`${url}/v1/agl/waits/rollouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rollout_ids: [rollout.rolloutId], timeout: 1 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    let closed = false;
    const closing = app.close().then(() => {
      closed = true;
    });
    const response = await inFlight;
    expect(response.status, await response.clone().text()).toBe(200);
    expect(await response.json()).toEqual([]);
    await closing;
    expect(closed).toBe(true);
    await expect(store.statistics()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});
