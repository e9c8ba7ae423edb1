// The connection timeouts reach Node's server with their defaults, and a headers timeout longer than the
// request timeout is refused with a coded error (the behaviour under slow clients: tests/scaleout/slowClients).
import { describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/createServer.ts';

describe('connection timeouts', () => {
  it('sets the defaults on the server', async () => {
    const app = await createServer();
    try {
      expect(app.server.headersTimeout).toBe(30_000);
      expect(app.server.requestTimeout).toBe(120_000);
      expect(app.server.keepAliveTimeout).toBe(72_000);
      expect(app.server.maxConnections).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('takes the options, and caps connections when asked', async () => {
    const app = await createServer({
      headersTimeoutMs: 1000,
      requestTimeoutMs: 2000,
      keepAliveTimeoutMs: 3000,
      maxConnections: 7,
    });
    try {
      expect(app.server.headersTimeout).toBe(1000);
      expect(app.server.requestTimeout).toBe(2000);
      expect(app.server.keepAliveTimeout).toBe(3000);
      expect(app.server.maxConnections).toBe(7);
    } finally {
      await app.close();
    }
  });

  it('refuses a headers timeout longer than the request timeout, and negative values', async () => {
    await expect(createServer({ headersTimeoutMs: 2000, requestTimeoutMs: 1000 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'headersTimeoutMs' },
    });
    await expect(createServer({ sendTimeoutMs: -1 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'sendTimeoutMs' },
    });
  });
});
