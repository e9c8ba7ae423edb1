/** Watching the statements a pg pool sends, for tests that count, record or hold them. */
import type pg from 'pg';

/** The SQL text `query` was called with (a string, or a config with `text`). */
export function statementText(config: unknown): string {
  return typeof config === 'string' ? config : String((config as { text?: unknown }).text);
}

/**
 * Routes every statement sent on one of the pool's connections through `spy`: `send` sends it as called
 * (`args` may be changed first) and `spy` returns what `query` should.
 */
export function spyOnConnections(
  pool: pg.Pool,
  spy: (text: string, send: () => unknown, args: unknown[], client: pg.PoolClient) => unknown,
): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) =>
      spy(
        statementText(args[0]),
        () => query(...args),
        args,
        client as pg.PoolClient,
      )) as typeof client.query;
  });
}

/** Routes `pool.query` (a statement on any free connection) through `spy`, as `spyOnConnections` does. */
export function spyOnPoolQueries(
  pool: pg.Pool,
  spy: (text: string, send: () => Promise<unknown>) => unknown,
): void {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  pool.query = ((...args: unknown[]) =>
    spy(statementText(args[0]), () => query(...args))) as typeof pool.query;
}
