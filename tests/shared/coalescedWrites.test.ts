// Statements sent together on a pipelined pg connection leave in one socket write.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTogether } from '../../src/shared/postgres/coalescedWrites.ts';
import { POSTGRES_URL, postgresAvailable } from '../support/services.ts';

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('writeTogether', () => {
  const client = new pg.Client({ connectionString: POSTGRES_URL, pipeline: true } as pg.ClientConfig);
  // Socket writes that reached the kernel (a corked socket hands them over in one writev on uncork).
  let writes = 0;
  beforeAll(async () => {
    await client.connect();
    const socket = (client as unknown as { connection: { stream: { _writev: unknown; _write: unknown } } })
      .connection.stream;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method] as (...args: unknown[]) => unknown;
      socket[method] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
  });
  afterAll(() => client.end());

  it('sends a transaction of several statements in one socket write, and answers each', async () => {
    writes = 0;
    const [begin, one, two, commit] = writeTogether(client, () => [
      client.query('BEGIN'),
      client.query({ name: 'together_1', text: 'SELECT $1::int AS n', values: [1] }),
      client.query({ name: 'together_2', text: 'SELECT $1::text AS s', values: ['two'] }),
      client.query('COMMIT'),
    ]);
    expect(writes).toBe(1);
    await begin;
    expect((await one).rows).toEqual([{ n: 1 }]);
    expect((await two).rows).toEqual([{ s: 'two' }]);
    expect((await commit).command).toBe('COMMIT');
  });

  it('uncorks the socket when sending throws, so the connection keeps working', async () => {
    expect(() =>
      writeTogether(client, () => {
        throw new Error('building a statement failed');
      }),
    ).toThrow('building a statement failed');
    writes = 0;
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(writes).toBe(1);
  });
});
