/** createServer's request log: one line per request, at a level chosen by outcome and duration. */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Line = { level: number; msg: string; url?: string; status?: number; ms?: number };

async function logged(level: string, slowRequestMs?: number) {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const text of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Line);
      callback();
    },
  });
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const app = await createServer({
    rollouts,
    logger: { level, stream },
    ...(slowRequestMs === undefined ? {} : { slowRequestMs }),
  });
  cleanups.push(
    () => rollouts.close(),
    () => app.close(),
  );
  return { app, rollouts, lines };
}

describe('request log', () => {
  it('at info, a successful request and a 4xx write nothing; a 5xx writes its error and one request line', async () => {
    const { app, rollouts, lines } = await logged('info');
    expect((await app.inject({ method: 'GET', url: '/v1/agl/statistics' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/nowhere' })).statusCode).toBe(404);
    expect(lines).toEqual([]);
    rollouts.statistics = async () => {
      throw new Error('disk on fire');
    };
    expect((await app.inject({ method: 'GET', url: '/v1/agl/statistics' })).statusCode).toBe(500);
    const requests = lines.filter((line) => line.url !== undefined);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ level: 50, url: '/v1/agl/statistics', status: 500 });
    expect(requests[0]!.msg).toMatch(/^GET \/v1\/agl\/statistics 500 [\d.]+ ms$/);
    expect(lines.filter((line) => line.msg === 'request failed')).toHaveLength(1);
  });

  it('at debug, every request is one line; slow ones are warn, polled routes stay debug', async () => {
    const { app, lines } = await logged('debug', 0);
    await app.inject({ method: 'GET', url: '/health' });
    await app.inject({ method: 'GET', url: '/metrics' });
    await app.inject({ method: 'GET', url: '/v1/agl/statistics' });
    const requests = lines.filter((line) => line.url !== undefined);
    expect(requests.map((line) => [line.url, line.level])).toEqual([
      ['/health', 20],
      ['/metrics', 20],
      ['/v1/agl/statistics', 40],
    ]);
  });

  it('refuses a negative or non-numeric slowRequestMs', async () => {
    await expect(createServer({ logger: { level: 'info' }, slowRequestMs: -1 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'slowRequestMs' },
    });
  });
});
