/**
 * PostgreSQL driver behaviour beyond the shared conformance suite: connection ownership, schema
 * handling, the LISTEN/NOTIFY change feed, the sweep, id ordering and stored-data errors.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/drivers/postgres/schema.ts';
import {
  type ChangeEvent,
  createCachedStore,
  createPostgresStore,
  type DocumentStore,
  isAgentStateError,
  type PostgresStoreOptions,
  UnavailableError,
} from '../../src/index.ts';
import { channelFor } from '../../src/shared/postgres/identifiers.ts';
import { eventually } from '../conformance/documentStore.ts';
import { ManualClock } from '../support/clock.ts';
import { spyOnConnections, spyOnPoolQueries } from '../support/pgSpy.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isAgentStateError(error) ? error.code : `not an AgentStateError: ${String(error)}`;
  }
  return undefined;
}

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isAgentStateError(error) ? error.code : `not an AgentStateError: ${String(error)}`;
  }
  return undefined;
}

describe('postgres driver options', () => {
  it('refuses invalid schema names before connecting', () => {
    for (const schema of [
      '',
      'has-dash',
      'has space',
      '1starts_with_digit',
      'pg_reserved',
      'x'.repeat(64),
      'a"b',
      'a;drop',
    ])
      expect(
        codeOf(() => createPostgresStore({ connectionString: POSTGRES_URL, schema })),
        schema,
      ).toBe('INVALID_INPUT');
  });

  it('derives distinct channel names of at most 63 bytes from long schema names', () => {
    const a = channelFor(`${'s'.repeat(62)}a`);
    const b = channelFor(`${'s'.repeat(62)}b`);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(channelFor('short')).toBe('agentstate_short');
  });

  it('needs a connection string or a pool', () => {
    expect(codeOf(() => createPostgresStore({}))).toBe('INVALID_INPUT');
  });

  it('reports an unreachable server as UNAVAILABLE', async () => {
    const store = createPostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    try {
      expect(await rejectionCode(store.get('agents', 'a'))).toBe('UNAVAILABLE');
      await expect(store.get('agents', 'a')).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!pgOk)('postgres driver', () => {
  let schema: string;
  let clock: ManualClock;
  const stores: DocumentStore[] = [];
  const open = (options: Partial<PostgresStoreOptions> = {}): DocumentStore => {
    const store = createPostgresStore({ connectionString: POSTGRES_URL, schema, now: clock.now, ...options });
    stores.push(store);
    return store;
  };
  const admin = async <R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      return (await client.query<R>(text, params)).rows;
    } finally {
      await client.end();
    }
  };

  beforeEach(() => {
    schema = uniqueName('as_pgtest');
    clock = new ManualClock();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await dropSchema(schema);
  });

  it('never closes a pool it was given', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 3 });
    try {
      const store = open({ pool });
      await store.watch('agents', () => {});
      await store.put('agents', 'a', 1);
      await store.close();
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
      // The listener connection went back to the pool: every slot is usable again.
      const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
      for (const client of clients) client.release();
    } finally {
      await pool.end();
    }
  });

  it('never deadlocks between its own batches, and runs a batch again that lost a deadlock to another client', async () => {
    const store = open();
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const puts = (order: string[], value: number) =>
      order.map((id) => ({ type: 'put' as const, namespace: 'n', id, value }));
    // Five puts (a transaction, not one statement), half of the batches in the opposite order.
    const settled = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => store.batch(puts(i % 2 ? ids : [...ids].reverse(), i))),
    );
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    // Another client locks e, then waits for a, which the batch holds while it waits for e: a deadlock,
    // which PostgreSQL breaks by rolling the batch back (the other client waits longer before checking).
    const other = new pg.Client({ connectionString: POSTGRES_URL });
    await other.connect();
    try {
      await other.query("BEGIN; SET LOCAL deadlock_timeout = '10s'");
      await other.query(`SELECT 1 FROM "${schema}".documents WHERE namespace = 'n' AND id = 'e' FOR UPDATE`);
      const batch = store.batch(puts(ids, 100));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.query(`SELECT 1 FROM "${schema}".documents WHERE namespace = 'n' AND id = 'a' FOR UPDATE`);
      await other.query('COMMIT');
      expect((await batch).results.map((r) => r.revision)).toEqual([13, 13, 13, 13, 13]);
      for (const id of ids) expect((await store.get('n', id))?.value).toBe(100);
    } finally {
      await other.end();
    }
  });

  it('writes a batch of up to four puts of distinct documents as one statement, all or nothing', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 3, pipeline: true } as pg.PoolConfig);
    const texts: string[] = [];
    spyOnPoolQueries(pool, (text, send) => {
      texts.push(text);
      return send();
    });
    spyOnConnections(pool, (text, send) => {
      if (text === 'BEGIN') texts.push('BEGIN');
      return send();
    });
    try {
      const store = open({ pool });
      await store.put('docs', 'c', 'c1');
      texts.length = 0;
      const written = await store.batch([
        { type: 'put', namespace: 'docs', id: 'a', value: 'a1' },
        { type: 'put', namespace: 'docs', id: 'b', value: 'b1', options: { expectedRevision: 0 } },
        { type: 'put', namespace: 'docs', id: 'c', value: 'c2', options: { expectedRevision: 1 } },
        { type: 'put', namespace: 'other', id: 'a', value: 'x', options: { ttlMs: 60_000 } },
      ]);
      expect(written.results.map((r) => r.revision)).toEqual([1, 1, 2, 1]);
      expect(texts).toHaveLength(1);
      expect(texts[0]).toContain('UNION ALL');
      expect((await store.get('other', 'a'))?.expiresAt).toBe(clock.time + 60_000);
      // A stale revision of one put fails the statement: the other put is not written either.
      const stale = store.batch([
        { type: 'put', namespace: 'docs', id: 'a', value: 'a2' },
        { type: 'put', namespace: 'docs', id: 'c', value: 'c3', options: { expectedRevision: 1 } },
      ]);
      await expect(stale).rejects.toMatchObject({
        code: 'REVISION_CONFLICT',
        details: { namespace: 'docs', id: 'c', expectedRevision: 1, actualRevision: 2 },
      });
      const exists = store.batch([
        { type: 'put', namespace: 'docs', id: 'b', value: 'b2', options: { expectedRevision: 0 } },
        { type: 'put', namespace: 'docs', id: 'd', value: 'd1' },
      ]);
      await expect(exists).rejects.toMatchObject({
        code: 'REVISION_CONFLICT',
        details: { namespace: 'docs', id: 'b', expectedRevision: 0, actualRevision: 1 },
      });
      expect((await store.get('docs', 'a'))?.value).toBe('a1');
      expect((await store.get('docs', 'b'))?.value).toBe('b1');
      expect((await store.get('docs', 'c'))?.value).toBe('c2');
      expect(await store.get('docs', 'd')).toBeUndefined();
      // Puts out of key order: each answer and each error still belongs to its own put.
      const reversed = await store.batch([
        { type: 'put', namespace: 'docs', id: 'z', value: 'z1' },
        { type: 'put', namespace: 'docs', id: 'c', value: 'c3', options: { expectedRevision: 2 } },
        { type: 'put', namespace: 'docs', id: 'a', value: 'a2' },
      ]);
      expect(reversed.results.map((r) => [r.id, r.revision])).toEqual([
        ['z', 1],
        ['c', 3],
        ['a', 2],
      ]);
      const lastStale = store.batch([
        { type: 'put', namespace: 'docs', id: 'y', value: 'y1' },
        { type: 'put', namespace: 'docs', id: 'x', value: 'x1', options: { expectedRevision: 0 } },
        { type: 'put', namespace: 'docs', id: 'c', value: 'c4', options: { expectedRevision: 2 } },
      ]);
      await expect(lastStale).rejects.toMatchObject({
        code: 'REVISION_CONFLICT',
        details: { namespace: 'docs', id: 'c', expectedRevision: 2, actualRevision: 3 },
      });
      expect(await store.get('docs', 'y')).toBeUndefined();
      expect(await store.get('docs', 'x')).toBeUndefined();
      // One document twice, or five puts: a transaction, with the same results as before.
      texts.length = 0;
      const twice = await store.batch([
        { type: 'put', namespace: 'docs', id: 'e', value: 1 },
        { type: 'put', namespace: 'docs', id: 'e', value: 2 },
      ]);
      expect(twice.results.map((r) => r.revision)).toEqual([1, 2]);
      const five = await store.batch(
        Array.from({ length: 5 }, (_, i) => ({
          type: 'put' as const,
          namespace: 'five',
          id: `k${i}`,
          value: i,
        })),
      );
      expect(five.results.map((r) => r.revision)).toEqual([1, 1, 1, 1, 1]);
      expect(texts.filter((text) => text === 'BEGIN')).toHaveLength(2);
      expect((await store.get('docs', 'e'))?.value).toBe(2);
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await pool.end();
    }
  });

  it('tells watchers to re-read when LISTEN is back after its connection dropped, and a cache starts over', async () => {
    const store = open({ now: Date.now });
    let resets = 0;
    await store.watch('*', () => {}, { onReset: () => resets++ });
    const cached = createCachedStore(store);
    await cached.put('agents', 'a', 1);
    expect(cached.stats().entries).toBe(1);
    // Kill this store's own LISTEN connection (its pid is registered in the schema's listeners table).
    const [listening] = await admin<{ pid: number }>(`SELECT pid FROM "${schema}".listeners`);
    await admin('SELECT pg_terminate_backend($1)', [listening!.pid]);
    await eventually(() => resets === 1, 5000);
    expect(cached.stats().entries).toBe(0);
    expect((await cached.get('agents', 'a'))?.value).toBe(1);
  });

  it('migrates once when several stores start on a new schema at the same time', async () => {
    const many = Array.from({ length: 5 }, () => open());
    await Promise.all(many.map((store, i) => store.put('agents', `a${i}`, i)));
    const versions = await admin<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations`);
    expect(versions.map((row) => row.version)).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    expect((await many[0]!.list('agents')).items).toHaveLength(5);
  });

  it('keeps stores in different schemas apart, change feeds included', async () => {
    const a = open();
    const otherSchema = uniqueName('as_pgtest');
    const b = createPostgresStore({ connectionString: POSTGRES_URL, schema: otherSchema, now: clock.now });
    try {
      const seen: ChangeEvent[] = [];
      await a.watch('*', (event) => seen.push(event));
      await b.put('agents', 'x', 'b');
      await a.put('agents', 'y', 'a');
      expect(await a.get('agents', 'x')).toBeUndefined();
      expect(seen.map((e) => e.id)).toEqual(['y']);
    } finally {
      await b.close();
      await dropSchema(otherSchema);
    }
  });

  it("delivers another store's writes and local writes exactly once to each watcher", async () => {
    const a = open();
    const b = open();
    const first: ChangeEvent[] = [];
    const second: ChangeEvent[] = [];
    await a.watch('agents', (event) => first.push(event));
    await a.watch('*', (event) => second.push(event));
    await a.put('agents', 'local', 1);
    await b.put('agents', 'remote', 1);
    await b.delete('agents', 'remote');
    await eventually(() => first.length >= 3);
    // A local write resolves only after this store's watchers have its event.
    const expected = [
      { type: 'put', namespace: 'agents', id: 'local', revision: 1 },
      { type: 'put', namespace: 'agents', id: 'remote', revision: 1 },
      { type: 'delete', namespace: 'agents', id: 'remote', revision: 1 },
    ];
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(first).toEqual(expected);
    expect(second).toEqual(expected);
  });

  it('sends no event for a write that did not happen', async () => {
    const store = open();
    const seen: ChangeEvent[] = [];
    await store.watch('agents', (event) => seen.push(event));
    await store.put('agents', 'a', 1);
    await store.put('agents', 'a', 2, { expectedRevision: 5 }).catch(() => {});
    await store
      .batch([
        { type: 'put', namespace: 'agents', id: 'b', value: 1 },
        { type: 'put', namespace: 'agents', id: 'a', value: 3, options: { expectedRevision: 0 } },
      ])
      .catch(() => {});
    expect(await store.delete('agents', 'missing')).toBe(false);
    await store.put('agents', 'end', 1);
    expect(seen.map((e) => e.id)).toEqual(['a', 'end']);
  });

  it('reconnects its listener after the connection is killed', async () => {
    const store = open();
    const writer = open();
    const seen: ChangeEvent[] = [];
    await store.watch('agents', (event) => seen.push(event));
    const killed = await admin<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM "${schema}".listeners`,
    );
    expect(killed).toEqual([{ ok: true }]);
    // Events sent while the listener is down are lost (NOTIFY is not a log); keep writing until one arrives.
    let n = 0;
    await eventually(() => {
      writer.put('agents', `after-${n++}`, 1).catch(() => {});
      return seen.length > 0;
    }, 10_000);
    expect(seen[0]?.id).toMatch(/^after-/);
  });

  it('watches a store whose schema name is as long as PostgreSQL allows', async () => {
    schema = `as_pgtest_${'x'.repeat(44)}${process.pid}`.slice(0, 63);
    const store = open();
    const seen: ChangeEvent[] = [];
    await store.watch('agents', (event) => seen.push(event));
    await store.put('agents', 'long', 1);
    expect(seen.map((e) => e.id)).toEqual(['long']);
  });

  it('notifies only while some store watches the schema, and forgets watchers that are gone', async () => {
    const store = open();
    const raw = new pg.Client({ connectionString: POSTGRES_URL });
    await raw.connect();
    try {
      const heard: string[] = [];
      raw.on('notification', (message) => heard.push(message.payload ?? ''));
      await raw.query(`LISTEN "${channelFor(schema)}"`);
      await store.put('agents', 'unwatched', 1);
      const watcher = open();
      const subscription = await watcher.watch('agents', () => {});
      await store.put('agents', 'watched', 1);
      await eventually(() => heard.length === 1);
      expect(JSON.parse(heard[0]!)).toMatchObject({ t: 'put', n: 'agents', r: 1 });
      await subscription.close();
      await watcher.close(); // unregisters: writes stop notifying
      await store.put('agents', 'unwatched-again', 1);
      // A registration left by a crashed process is pruned by the sweep.
      await admin(`INSERT INTO "${schema}".listeners (pid, since) VALUES (2147483000, 0)`);
      await store.sweepExpired();
      expect(await admin(`SELECT pid FROM "${schema}".listeners`)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(heard).toHaveLength(1);
    } finally {
      await raw.end();
    }
  });

  it('sweeps expired documents in batches and reports them as expire events', async () => {
    const store = open({ sweepBatchSize: 2 });
    const seen: ChangeEvent[] = [];
    await store.watch('ttl', (event) => seen.push(event));
    for (let i = 0; i < 5; i++) await store.put('ttl', `t${i}`, i, { ttlMs: 1000 });
    await store.put('ttl', 'kept', 1, { ttlMs: 60_000 });
    clock.advance(1001);
    expect(await store.sweepExpired()).toBe(5);
    await eventually(() => seen.filter((e) => e.type === 'expire').length === 5);
    expect(
      seen
        .filter((e) => e.type === 'expire')
        .map((e) => e.id)
        .sort(),
    ).toEqual(['t0', 't1', 't2', 't3', 't4']);
    const rows = await admin<{ id: string }>(`SELECT id FROM "${schema}".documents`);
    expect(rows.map((r) => r.id)).toEqual(['kept']);
  });

  it('sweeps in the background once the store is in use', async () => {
    const store = open({ sweepIntervalMs: 20 });
    const seen: ChangeEvent[] = [];
    await store.watch('ttl', (event) => seen.push(event));
    await store.put('ttl', 'soon', 1, { ttlMs: 10 });
    clock.advance(11);
    await eventually(() => seen.some((e) => e.type === 'expire'));
    expect(seen.at(-1)).toEqual({ type: 'expire', namespace: 'ttl', id: 'soon', revision: 1 });
  });

  it('orders ids by UTF-16 code unit, like JavaScript, and keeps lone surrogates exact', async () => {
    const store = open();
    const ids = ['a', '\uE000', '\uFFFF', '\u{1F600}', '\u{1F600}x', '\uD800', 'z\uDC00', 'é'];
    for (const id of ids) await store.put('order', id, id);
    const listed = (await store.list('order')).items.map((d) => d.id);
    expect(listed).toEqual([...ids].sort());
    for (const id of ids) expect((await store.get('order', id))?.value).toBe(id);
    // A prefix is a prefix of code units, as with String.prototype.startsWith.
    const half = (await store.list('order', { prefix: '\uD83D' })).items.map((d) => d.id);
    expect(half).toEqual(ids.filter((id) => id.startsWith('\uD83D')).sort());
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list('order', { limit: 3, ...(cursor && { cursor }) });
      paged.push(...page.items.map((d) => d.id));
      cursor = page.cursor;
    } while (cursor);
    expect(paged).toEqual([...ids].sort());
  });

  it('keeps key order and __proto__ keys of values and metadata exactly', async () => {
    const store = open();
    const value = JSON.parse('{"z":1,"a":{"__proto__":{"polluted":true},"y":2},"m":3}');
    await store.put('agents', 'k', value, { metadata: JSON.parse('{"b":1,"__proto__":2}') });
    const doc = await store.get<Record<string, unknown>>('agents', 'k');
    expect(JSON.stringify(doc?.value)).toBe(JSON.stringify(value));
    expect(JSON.stringify(doc?.metadata)).toBe('{"b":1,"__proto__":2}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports a corrupt stored value as CORRUPT_STATE and leaves the row alone', async () => {
    const store = open();
    await store.put('agents', 'bad', { ok: true });
    await admin(`UPDATE "${schema}".documents SET value = '{not json' WHERE id = 'bad'`);
    try {
      await store.get('agents', 'bad');
      expect.unreachable();
    } catch (error) {
      expect(isAgentStateError(error, 'CORRUPT_STATE')).toBe(true);
      expect((error as { details: Record<string, unknown> }).details).toMatchObject({
        namespace: 'agents',
        id: 'bad',
        schema,
      });
    }
    expect(await admin(`SELECT value FROM "${schema}".documents`)).toEqual([{ value: '{not json' }]);
  });

  it('reports a malformed codec value in valid JSON as CORRUPT_STATE with its path, not as invalid JSON', async () => {
    const store = open();
    await store.put('agents', 'odd', { ok: true });
    await admin(`UPDATE "${schema}".documents SET value = '{"$t":"Map","v":5}' WHERE id = 'odd'`);
    const error = await store.get('agents', 'odd').catch((e: unknown) => e);
    expect(isAgentStateError(error, 'CORRUPT_STATE')).toBe(true);
    expect((error as Error).message).toMatch(/malformed 'Map' value/);
  });

  it('treats an expired row as absent for compare-and-set and delete', async () => {
    const store = open();
    await store.put('ttl', 'e', 1, { ttlMs: 100 });
    clock.advance(200);
    expect(await rejectionCode(store.put('ttl', 'e', 2, { expectedRevision: 1 }))).toBe('REVISION_CONFLICT');
    expect(await store.delete('ttl', 'e')).toBe(false);
    const created = await store.put('ttl', 'e', 3);
    expect(created).toMatchObject({ revision: 1, createdAt: clock.time });
    expect(created.expiresAt).toBeUndefined();
  });
});
