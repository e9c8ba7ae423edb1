/**
 * The DocumentStore conformance suite: every driver runs these tests unchanged. A driver that passes
 * them can back every component that stores documents.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/codec/checksum.ts';
import { getMany } from '../../src/drivers/shared/getMany.ts';
import {
  type AgentStateError,
  type ChangeEvent,
  type DocumentStore,
  type DriverOptions,
  isAgentStateError,
} from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';
import type { DriverFactory, DriverFixture } from '../support/drivers.ts';

/** Polls until `condition` holds (change feeds of some drivers are asynchronous). */
export async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<AgentStateError> {
  try {
    await promise;
  } catch (error) {
    if (!isAgentStateError(error)) throw error;
    expect(error.code).toBe(code);
    return error;
  }
  throw new Error(`expected an error with code ${code}`);
}

/** Every value type of the codec, stored as one document each. */
export const CODEC_SAMPLES: Record<string, unknown> = {
  json: { a: 1, b: 'two', c: [true, false, null], d: { e: 1.5 } },
  date: new Date('2026-03-04T05:06:07.089Z'),
  map: new Map<unknown, unknown>([
    ['k', 1],
    [2, new Date(0)],
  ]),
  set: new Set([1, 'a', null]),
  bigint: 2n ** 70n,
  bytes: new Uint8Array([0, 127, 255]),
  buffer: Buffer.from('agentstate'),
  undefinedInside: { a: undefined, list: [undefined, 1] },
  numbers: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0],
  regexp: /x+y/gimsu,
  url: new URL('https://example.com/path?q=1'),
  protoKeys: JSON.parse('{"__proto__":{"x":1},"constructor":1,"prototype":2}'),
  unicode: { text: 'héllo wörld ✓ 😀', 键: '值' },
  string: 'just a string',
  nullValue: null,
};

/** Registers the conformance tests of one driver. */
export function describeDocumentStoreConformance(factory: DriverFactory, available: boolean): void {
  describe.skipIf(!available)(`DocumentStore conformance: ${factory.name}`, () => {
    let clock: ManualClock;
    let fixture: DriverFixture;
    let store: DocumentStore;

    beforeEach(async () => {
      clock = new ManualClock();
      fixture = await factory.create({ now: clock.now, sweepIntervalMs: 60_000 });
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('has the driver name', () => {
      expect(store.name).toBe(factory.name);
    });

    it('round-trips every codec type', async () => {
      for (const [id, value] of Object.entries(CODEC_SAMPLES)) await store.put('samples', id, value);
      for (const [id, value] of Object.entries(CODEC_SAMPLES)) {
        const doc = await store.get('samples', id);
        if (id === 'protoKeys') expect(JSON.stringify(doc?.value)).toBe(JSON.stringify(value));
        else expect(doc?.value).toStrictEqual(value);
      }
      expect(Object.getPrototypeOf((await store.get<object>('samples', 'protoKeys'))?.value)).toBe(
        Object.prototype,
      );
    });

    it('returns undefined for a missing document', async () => {
      expect(await store.get('agents', 'nobody')).toBeUndefined();
    });

    it('counts revisions and keeps createdAt while updatedAt moves', async () => {
      const first = await store.put('agents', 'a1', { n: 1 }, { metadata: { owner: 'x' } });
      expect(first.revision).toBe(1);
      expect(first.createdAt).toBe(clock.time);
      clock.advance(1000);
      const second = await store.put('agents', 'a1', { n: 2 });
      expect(second.revision).toBe(2);
      const doc = await store.get('agents', 'a1');
      expect(doc).toMatchObject({
        namespace: 'agents',
        id: 'a1',
        value: { n: 2 },
        revision: 2,
        createdAt: first.createdAt,
        updatedAt: clock.time,
      });
      expect(first.metadata).toEqual({ owner: 'x' });
    });

    it('returns the value as stored from put, sharing nothing with the argument', async () => {
      const value = { list: [1], at: new Date(0) };
      const written = await store.put<{ list: number[]; at: Date }>('agents', 'p', value);
      value.list.push(2);
      expect(written.value).toEqual({ list: [1], at: new Date(0) });
      expect(written.value).not.toBe(value);
      expect(written.value).toBe(written.value);
      expect({ ...written }.value).toEqual({ list: [1], at: new Date(0) });
      expect(JSON.parse(JSON.stringify(written)).value.list).toEqual([1]);
    });

    it('isolates stored values from later mutation by the caller', async () => {
      const value = { list: [1] };
      await store.put('agents', 'm', value);
      value.list.push(2);
      const read = await store.get<{ list: number[] }>('agents', 'm');
      // A cache hands every reader the same value, frozen so that no reader can change it for the others.
      if (factory.sharedValues) expect(() => read!.value.list.push(3)).toThrow(TypeError);
      else read!.value.list.push(3);
      expect((await store.get('agents', 'm'))?.value).toEqual({ list: [1] });
    });

    it('refuses a stale expectedRevision and writes nothing', async () => {
      await store.put('agents', 'a', 'v1');
      await store.put('agents', 'a', 'v2', { expectedRevision: 1 });
      const error = await expectCode(
        store.put('agents', 'a', 'v3', { expectedRevision: 1 }),
        'REVISION_CONFLICT',
      );
      expect(error.details).toMatchObject({
        namespace: 'agents',
        id: 'a',
        expectedRevision: 1,
        actualRevision: 2,
      });
      expect(await store.get('agents', 'a')).toMatchObject({ value: 'v2', revision: 2 });
      await expectCode(store.put('agents', 'missing', 'x', { expectedRevision: 3 }), 'REVISION_CONFLICT');
      expect(await store.get('agents', 'missing')).toBeUndefined();
    });

    it('treats expectedRevision 0 as create-only', async () => {
      expect((await store.put('agents', 'c', 1, { expectedRevision: 0 })).revision).toBe(1);
      await expectCode(store.put('agents', 'c', 2, { expectedRevision: 0 }), 'REVISION_CONFLICT');
      expect((await store.get('agents', 'c'))?.value).toBe(1);
    });

    it('deletes, with compare-and-set, and restarts revisions on re-create', async () => {
      await store.put('agents', 'd', 1);
      await store.put('agents', 'd', 2);
      await expectCode(store.delete('agents', 'd', { expectedRevision: 1 }), 'REVISION_CONFLICT');
      expect(await store.get('agents', 'd')).toBeDefined();
      expect(await store.delete('agents', 'd', { expectedRevision: 2 })).toBe(true);
      expect(await store.get('agents', 'd')).toBeUndefined();
      expect(await store.delete('agents', 'd')).toBe(false);
      expect((await store.put('agents', 'd', 3, { expectedRevision: 0 })).revision).toBe(1);
    });

    it('applies a batch atomically', async () => {
      await store.put('agents', 'old', 'x');
      const result = await store.batch([
        { type: 'put', namespace: 'agents', id: 'b1', value: 1 },
        {
          type: 'put',
          namespace: 'sessions',
          id: 'b2',
          value: new Date(5),
          options: { expectedRevision: 0 },
        },
        { type: 'delete', namespace: 'agents', id: 'old' },
        { type: 'put', namespace: 'agents', id: 'b1', value: 2 },
      ]);
      expect(result.results.map((r) => r.revision)).toEqual([1, 1, null, 2]);
      expect(result.results[2]).toMatchObject({ deleted: true });
      expect((await store.get('agents', 'b1'))?.value).toBe(2);
      expect((await store.get('sessions', 'b2'))?.value).toEqual(new Date(5));
      expect(await store.get('agents', 'old')).toBeUndefined();
    });

    it('leaves nothing behind when any operation of a batch fails', async () => {
      await store.put('agents', 'keep', 'original');
      await store.put('agents', 'conflict', 'v1');
      await expectCode(
        store.batch([
          { type: 'put', namespace: 'agents', id: 'new1', value: 1 },
          { type: 'delete', namespace: 'agents', id: 'keep' },
          { type: 'put', namespace: 'agents', id: 'keep2', value: 2 },
          { type: 'put', namespace: 'agents', id: 'conflict', value: 'v2', options: { expectedRevision: 7 } },
        ]),
        'REVISION_CONFLICT',
      );
      await expectCode(
        store.batch([
          { type: 'put', namespace: 'agents', id: 'new2', value: 1 },
          { type: 'put', namespace: 'agents', id: 'fn', value: { f: () => 1 } },
        ]),
        'INVALID_INPUT',
      );
      expect(await store.get('agents', 'new1')).toBeUndefined();
      expect(await store.get('agents', 'new2')).toBeUndefined();
      expect(await store.get('agents', 'keep2')).toBeUndefined();
      expect(await store.get('agents', 'keep')).toMatchObject({ value: 'original', revision: 1 });
      expect(await store.get('agents', 'conflict')).toMatchObject({ value: 'v1', revision: 1 });
    });

    it('reads many documents at once, in the order asked, without missing or expired ones', async () => {
      const ids = Array.from({ length: 70 }, (_, i) => `m${i}`); // more than one driver statement's worth
      await store.batch(ids.map((id, i) => ({ type: 'put' as const, namespace: 'many', id, value: { i } })));
      await store.put('many', 'short', 'gone soon', { ttlMs: 1000 });
      await store.put('other', 'm1', 'another namespace');
      clock.advance(1500);
      const wanted = ['m69', 'absent', 'm0', 'short', ...ids.slice(1, 69)];
      const docs = await getMany<{ i: number }>(store, 'many', wanted);
      expect(docs).toHaveLength(wanted.length);
      expect(docs[0]).toMatchObject({ namespace: 'many', id: 'm69', value: { i: 69 }, revision: 1 });
      expect(docs[1]).toBeUndefined();
      expect(docs[2]?.value).toEqual({ i: 0 });
      expect(docs[3]).toBeUndefined();
      expect(docs.slice(4).map((doc) => doc?.value.i)).toEqual(ids.slice(1, 69).map((_, i) => i + 1));
      expect(await getMany(store, 'many', [])).toEqual([]);
      await expectCode(getMany(store, 'many', ['m1', '']), 'INVALID_INPUT');
    });

    it('fails a batch whose create-only put meets a stored document, writing nothing', async () => {
      await store.put('agents', 'taken', 'v1');
      await expectCode(
        store.batch([
          { type: 'put', namespace: 'agents', id: 'fresh', value: 1, options: { expectedRevision: 0 } },
          { type: 'put', namespace: 'agents', id: 'taken', value: 'v2', options: { expectedRevision: 0 } },
          { type: 'put', namespace: 'agents', id: 'after', value: 2 },
        ]),
        'REVISION_CONFLICT',
      );
      expect(await store.get('agents', 'fresh')).toBeUndefined();
      expect(await store.get('agents', 'after')).toBeUndefined();
      expect(await store.get('agents', 'taken')).toMatchObject({ value: 'v1', revision: 1 });
      const written = await store.batch([
        { type: 'put', namespace: 'agents', id: 'fresh', value: 1, options: { expectedRevision: 0 } },
        { type: 'put', namespace: 'agents', id: 'taken', value: 'v2', options: { expectedRevision: 1 } },
        { type: 'delete', namespace: 'agents', id: 'nothing-here' },
      ]);
      expect(written.results.map((r) => r.revision)).toEqual([1, 2, null]);
    });

    it('lists in id order with paging, prefixes and namespace isolation', async () => {
      const ids = Array.from({ length: 25 }, (_, i) => `item-${String(i).padStart(2, '0')}`);
      for (const id of [...ids].reverse()) await store.put('list', id, { id });
      await store.put('list', 'other-1', 1);
      await store.put('list2', 'item-99', 1);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list('list', { prefix: 'item-', limit: 10, ...(cursor && { cursor }) });
        seen.push(...page.items.map((d) => d.id));
        cursor = page.cursor;
        pages++;
      } while (cursor);
      expect(seen).toEqual(ids);
      expect(pages).toBe(3);
      const all = await store.list('list', { limit: 1000 });
      expect(all.items.map((d) => d.id)).toEqual([...ids, 'other-1']);
      expect(all.cursor).toBeUndefined();
      expect((await store.list('empty-namespace')).items).toEqual([]);
    });

    it('lists the namespaces holding documents in order, paged; an emptied namespace leaves the list', async () => {
      expect(await store.listNamespaces()).toEqual({ namespaces: [] });
      const names = ['b.ns', 'a', 'A', 'a-b', 'a_b', 'a:b', 'z9', '0', 'ns.with.dots'];
      for (const [i, namespace] of names.entries()) {
        await store.put(namespace, 'x', i);
        await store.put(namespace, 'y', i);
      }
      await store.batch([{ type: 'put', namespace: 'batched', id: '1', value: 1 }]);
      const expected = [...names, 'batched'].sort();
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listNamespaces({ limit: 4, ...(cursor && { cursor }) });
        expect(page.namespaces.length).toBeLessThanOrEqual(4);
        seen.push(...page.namespaces);
        cursor = page.cursor;
        pages++;
      } while (cursor);
      expect(seen).toEqual(expected);
      expect(pages).toBe(3);
      expect((await store.listNamespaces({ limit: 1000 })).namespaces).toEqual(expected);

      await store.delete('z9', 'x');
      expect((await store.listNamespaces()).namespaces).toContain('z9');
      await store.batch([{ type: 'delete', namespace: 'z9', id: 'y' }]);
      await store.delete('batched', '1');
      await store.put('expiring', 'only', 1, { ttlMs: 1000 });
      clock.advance(2000);
      await store.sweepExpired();
      expect((await store.listNamespaces()).namespaces).toEqual(
        expected.filter((n) => n !== 'z9' && n !== 'batched'),
      );
      await expectCode(store.listNamespaces({ cursor: 'not-a-cursor' }), 'INVALID_INPUT');
      await expectCode(store.listNamespaces({ limit: 0 }), 'INVALID_INPUT');
      await expectCode(store.listNamespaces({ limit: 100_000 }), 'INVALID_INPUT');
    });

    it('orders ids as JavaScript compares strings', async () => {
      const ids = ['b', 'a', 'B', 'a-b', 'a_b', 'a.b', '10', '9', 'Z', 'é'];
      for (const id of ids) await store.put('order', id, 1);
      const listed = (await store.list('order')).items.map((d) => d.id);
      expect(listed).toEqual([...ids].sort());
    });

    it('refuses bad list arguments', async () => {
      await expectCode(store.list('list', { cursor: 'not-a-cursor' }), 'INVALID_INPUT');
      await expectCode(store.list('list', { limit: 0 }), 'INVALID_INPUT');
      await expectCode(store.list('list', { limit: 100_000 }), 'INVALID_INPUT');
    });

    it('hides expired documents and sweeps them', async () => {
      await store.put('ttl', 'short', 1, { ttlMs: 1000 });
      await store.put('ttl', 'long', 2, { ttlMs: 10_000 });
      await store.put('ttl', 'forever', 3);
      expect((await store.get('ttl', 'short'))?.expiresAt).toBe(clock.time + 1000);
      clock.advance(1500);
      expect(await store.get('ttl', 'short')).toBeUndefined();
      expect((await store.list('ttl')).items.map((d) => d.id)).toEqual(['forever', 'long']);
      expect(await store.sweepExpired()).toBe(1);
      expect(await store.sweepExpired()).toBe(0);
      // An expired document no longer exists for compare-and-set either.
      expect((await store.put('ttl', 'short', 4, { expectedRevision: 0 })).revision).toBe(1);
      clock.advance(10_000);
      expect(await store.get('ttl', 'long')).toBeUndefined();
      expect((await store.get('ttl', 'forever'))?.value).toBe(3);
    });

    it('drops an expiry when a document is rewritten without ttlMs', async () => {
      await store.put('ttl', 'k', 1, { ttlMs: 1000 });
      await store.put('ttl', 'k', 2);
      clock.advance(5000);
      expect(await store.sweepExpired()).toBe(0);
      expect((await store.get('ttl', 'k'))?.value).toBe(2);
      expect((await store.get('ttl', 'k'))?.expiresAt).toBeUndefined();
    });

    it('computes expiry by the one TTL rule: whole ms, TTL rounded up, capped at MAX_SAFE_INTEGER', async () => {
      const start = clock.time;
      clock.time = start + 0.6; // a clock with fractions: stored times are whole milliseconds
      const doc = await store.put('ttl', 'fraction', 1, { ttlMs: 0.2 });
      expect([doc.createdAt, doc.updatedAt, doc.expiresAt]).toEqual([start, start, start + 1]);
      expect((await store.get('ttl', 'fraction'))?.expiresAt).toBe(start + 1);
      clock.time = start + 0.9; // still before the expiry's millisecond
      expect((await store.get('ttl', 'fraction'))?.value).toBe(1);
      clock.time = start + 1; // expired from expiresAt on
      expect(await store.get('ttl', 'fraction')).toBeUndefined();
      const far = await store.put('ttl', 'far', 2, { ttlMs: Number.MAX_SAFE_INTEGER });
      expect(far.expiresAt).toBe(Number.MAX_SAFE_INTEGER);
      expect((await store.get('ttl', 'far'))?.expiresAt).toBe(Number.MAX_SAFE_INTEGER);
      for (const ttlMs of [2 ** 53, Number.POSITIVE_INFINITY, 0]) {
        await expectCode(store.put('ttl', 'refused', 3, { ttlMs }), 'INVALID_INPUT');
      }
      expect(await store.get('ttl', 'refused')).toBeUndefined();
    });

    it("restarts a live document's expiry with touch, by the same TTL rule, without writing it", async () => {
      if (store.touch === undefined) return; // optional: touchExpiry rewrites the document instead
      const written = await store.put('ttl', 'touched', 1, { ttlMs: 1000 });
      clock.advance(500);
      expect(await store.touch('ttl', 'touched', 1000.5)).toBe(true);
      const doc = await store.get('ttl', 'touched');
      expect(doc?.expiresAt).toBe(clock.time + 1001);
      expect([doc?.revision, doc?.updatedAt]).toEqual([written.revision, written.updatedAt]);
      expect(await store.touch('ttl', 'missing', 1000)).toBe(false);
      await expectCode(store.touch('ttl', 'touched', 0), 'INVALID_INPUT');
      clock.advance(1001);
      expect(await store.touch('ttl', 'touched', 1000)).toBe(false);
    });

    it('delivers change events for a namespace and for *', async () => {
      const events: ChangeEvent[] = [];
      const all: ChangeEvent[] = [];
      const sub = await store.watch('watched', (e) => events.push(e));
      const subAll = await store.watch('*', (e) => all.push(e));
      await store.put('watched', 'w', 1);
      await store.put('other', 'o', 1);
      await store.batch([
        { type: 'put', namespace: 'watched', id: 'w', value: 2 },
        { type: 'put', namespace: 'watched', id: 'w2', value: 1 },
      ]);
      await store.delete('watched', 'w');
      await eventually(() => events.length >= 4 && all.length >= 5);
      expect(events.map((e) => [e.type, e.id, e.revision])).toEqual([
        ['put', 'w', 1],
        ['put', 'w', 2],
        ['put', 'w2', 1],
        ['delete', 'w', 2],
      ]);
      expect(all.some((e) => e.namespace === 'other')).toBe(true);
      await sub.close();
      await subAll.close();
      await store.put('watched', 'w3', 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events).toHaveLength(4);
    });

    it('lets exactly one of 50 concurrent writers win on the same revision', async () => {
      await store.put('race', 'doc', { n: 0 });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => store.put('race', 'doc', { n: i }, { expectedRevision: 1 })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes)
        if (o.status === 'rejected') expect(isAgentStateError(o.reason, 'REVISION_CONFLICT')).toBe(true);
      expect((await store.get('race', 'doc'))?.revision).toBe(2);
    });

    it('loses no update with 50 concurrent compare-and-set incrementers', async () => {
      await store.put('race', 'counter', 0);
      const increment = async () => {
        for (;;) {
          const doc = (await store.get<number>('race', 'counter'))!;
          try {
            await store.put('race', 'counter', doc.value + 1, { expectedRevision: doc.revision });
            return;
          } catch (error) {
            if (!isAgentStateError(error, 'REVISION_CONFLICT')) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: 50 }, increment));
      expect(await store.get('race', 'counter')).toMatchObject({ value: 50, revision: 51 });
    });

    it('refuses bad ids, namespaces, options and values with INVALID_INPUT and stores nothing', async () => {
      for (const id of ['', 'a\0b', 'x'.repeat(5000)]) {
        const error = await expectCode(store.put('agents', id, 1), 'INVALID_INPUT');
        expect(error.details.id).toBe(id);
      }
      for (const namespace of ['', '../etc', 'a/b', 'has space'])
        await expectCode(store.put(namespace, 'id', 1), 'INVALID_INPUT');
      await expectCode(store.put('agents', 'bad-ttl', 1, { ttlMs: -5 }), 'INVALID_INPUT');
      await expectCode(store.put('agents', 'bad-ttl', 1, { ttlMs: Number.NaN }), 'INVALID_INPUT');
      await expectCode(store.put('agents', 'bad-rev', 1, { expectedRevision: -1 }), 'INVALID_INPUT');
      const error = await expectCode(store.put('agents', 'fn', { deep: [() => 1] }), 'INVALID_INPUT');
      expect(error.message).toContain('deep[0]');
      await expectCode(store.put('agents', 'sym', Symbol('x')), 'INVALID_INPUT');
      expect((await store.list('agents')).items).toEqual([]);
    });

    it('stores ids as data: path-like and prototype ids are ordinary keys', async () => {
      for (const id of ['__proto__', 'constructor', 'with/slash', 'with\\backslash', '.hidden', 'CON']) {
        try {
          await store.put('ids', id, id);
          expect((await store.get('ids', id))?.value).toBe(id);
        } catch (error) {
          // A driver may refuse path-like ids, but only with a clear INVALID_INPUT naming the id.
          expect(isAgentStateError(error, 'INVALID_INPUT')).toBe(true);
          expect((error as AgentStateError).details.id).toBe(id);
        }
      }
    });

    it('throws CLOSED after close', async () => {
      await store.close();
      await expectCode(store.get('agents', 'a'), 'CLOSED');
      await expectCode(store.put('agents', 'a', 1), 'CLOSED');
    });

    it.skipIf(!factory.durable)('keeps data across reopening', async () => {
      await store.put('durable', 'x', { when: new Date(7) }, { metadata: { m: 1 } });
      const again = await fixture.reopen!({ now: clock.now });
      try {
        expect(await again.get('durable', 'x')).toMatchObject({
          value: { when: new Date(7) },
          revision: 1,
          metadata: { m: 1 },
        });
      } finally {
        await again.close();
      }
    });
  });

  describe.skipIf(!available)(`DocumentStore conformance, stored values: ${factory.name}`, () => {
    const fixtures: DriverFixture[] = [];
    async function open(options: DriverOptions): Promise<DriverFixture> {
      const made = await factory.create({ sweepIntervalMs: 60_000, ...options });
      fixtures.push(made);
      return made;
    }
    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
    });

    // A 100 KB agent-like state: repetitive JSON, as conversation histories are.
    const large = {
      messages: Array.from({ length: 400 }, (_, i) => ({
        role: i % 2 ? 'assistant' : 'user',
        content: `message ${i}: the quick brown fox jumps over the lazy dog`.repeat(4),
        at: new Date(1_700_000_000_000 + i),
      })),
    };

    for (const compression of ['gzip', 'brotli'] as const) {
      it(`stores values above compressAboveBytes ${compression}-compressed and reads them back`, async () => {
        const { store } = await open({ compression, compressAboveBytes: 512 });
        const written = await store.put('states', 'big', large);
        const small = await store.put('states', 'small', { n: 1 });
        expect(written.storage).toMatchObject({ compression });
        expect(written.storage!.sizeBytes).toBeLessThan(written.storage!.plainBytes / 4);
        expect(small.storage).toMatchObject({ compression: 'none' });
        expect(small.storage!.sizeBytes).toBe(small.storage!.plainBytes);
        const read = await store.get('states', 'big');
        expect(read?.value).toStrictEqual(large);
        expect(read?.storage).toEqual(written.storage);
        expect((await store.list('states')).items.map((d) => d.storage?.compression)).toEqual([
          compression,
          'none',
        ]);
        await store.batch([{ type: 'put', namespace: 'states', id: 'batched', value: large }]);
        expect((await store.get('states', 'batched'))?.storage?.compression).toBe(compression);
      });
    }

    it.skipIf(!factory.durable)(
      'reads compressed values whatever the compression of the reader',
      async () => {
        const fixture = await open({ compression: 'brotli', compressAboveBytes: 0 });
        await fixture.store.put('states', 'x', large);
        const plainReader = await fixture.reopen!({ compression: 'none' });
        try {
          expect((await plainReader.get('states', 'x'))?.value).toStrictEqual(large);
        } finally {
          await plainReader.close();
        }
      },
    );

    it('keeps size and the SHA-256 of the stored bytes per document', async () => {
      const { store } = await open({});
      const written = await store.put('states', 'a', { hello: 'world' });
      const text = JSON.stringify({ hello: 'world' });
      expect(written.storage).toEqual({
        sizeBytes: Buffer.byteLength(text),
        plainBytes: Buffer.byteLength(text),
        checksum: sha256(text),
        compression: 'none',
      });
      expect((await store.get('states', 'a'))?.storage).toEqual(written.storage);
    });

    it.skipIf(!factory.durable)('verifies checksums on read when asked, and keeps the bytes', async () => {
      const fixture = await open({ verifyChecksums: true });
      await fixture.store.put('states', 'v', { n: 1 });
      await fixture.tamper!('states', 'v', '{"n":2}');
      const error = await expectCode(fixture.store.get('states', 'v'), 'CORRUPT_STATE');
      expect(error.details).toMatchObject({ namespace: 'states', id: 'v', reason: 'checksum-mismatch' });
      expect(error.message).toContain('states/v');
      // Nothing was overwritten or moved: a reader that does not verify still sees the altered bytes.
      const lenient = await fixture.reopen!({ verifyChecksums: false });
      try {
        expect((await lenient.get('states', 'v'))?.value).toEqual({ n: 2 });
      } finally {
        await lenient.close();
      }
    });

    it.skipIf(!factory.durable)(
      'reports a compressed value that cannot be decompressed as CORRUPT_STATE',
      async () => {
        const fixture = await open({ compression: 'gzip', compressAboveBytes: 0 });
        await fixture.store.put('states', 'z', large);
        await fixture.tamper!('states', 'z', Buffer.concat([Buffer.from('ASZg'), randomBytes(64)]));
        const error = await expectCode(fixture.store.get('states', 'z'), 'CORRUPT_STATE');
        expect(error.details).toMatchObject({ namespace: 'states', id: 'z' });
        await expectCode(fixture.store.get('states', 'z'), 'CORRUPT_STATE');
      },
    );

    it.skipIf(!factory.durable)(
      'refuses a value that decompresses beyond maxDecompressedBytes as CORRUPT_STATE, keeping it',
      async () => {
        const fixture = await open({ compression: 'gzip', compressAboveBytes: 0 });
        const written = await fixture.store.put('states', 'bomb', large);
        expect(written.storage!.plainBytes).toBeGreaterThan(10_000);
        const strict = await fixture.reopen!({ maxDecompressedBytes: 10_000 });
        try {
          const error = await expectCode(strict.get('states', 'bomb'), 'CORRUPT_STATE');
          expect(error.details).toMatchObject({
            namespace: 'states',
            id: 'bomb',
            maxDecompressedBytes: 10_000,
            reason: 'decompressed-too-large',
          });
        } finally {
          await strict.close();
        }
        expect((await fixture.store.get('states', 'bomb'))?.value).toStrictEqual(large);
      },
    );

    it('encrypts at rest with AES-256-GCM, a key id per value, and rotates keys', async () => {
      const k1 = randomBytes(32);
      const k2 = randomBytes(32);
      const fixture = await open({ compression: 'gzip', encryption: { keyId: 'k1', keys: { k1 } } });
      const written = await fixture.store.put('secrets', 's', large);
      expect(written.storage).toMatchObject({ keyId: 'k1', compression: 'gzip' });
      expect((await fixture.store.get('secrets', 's'))?.value).toStrictEqual(large);
      if (!fixture.reopen) return;
      const rotated = await fixture.reopen({
        compression: 'gzip',
        encryption: { keyId: 'k2', keys: { k1, k2 } },
      });
      const wrong = await fixture.reopen({ encryption: { keyId: 'k1', keys: { k1: k2 } } });
      const none = await fixture.reopen({});
      try {
        expect((await rotated.get('secrets', 's'))?.value).toStrictEqual(large);
        expect((await rotated.put('secrets', 's2', { n: 1 })).storage?.keyId).toBe('k2');
        const bad = await expectCode(wrong.get('secrets', 's'), 'CORRUPT_STATE');
        expect(bad.details).toMatchObject({ keyId: 'k1', reason: 'decryption-failed', id: 's' });
        const missing = await expectCode(none.get('secrets', 's2'), 'UNAVAILABLE');
        expect(missing.details).toMatchObject({ keyId: 'k2', id: 's2' });
      } finally {
        await Promise.all([rotated.close(), wrong.close(), none.close()]);
      }
    });

    it('refuses unknown and unsupported options at creation with INVALID_INPUT', async () => {
      for (const options of [
        { compression: 'zip' },
        { compressAboveBytes: -1 },
        { maxDecompressedBytes: 0 },
        { compresion: 'gzip' },
        { encryption: { keyId: 'k', keys: { k: Buffer.alloc(16) } } },
      ]) {
        let caught: unknown;
        try {
          await open(options as DriverOptions);
        } catch (error) {
          caught = error;
        }
        expect(isAgentStateError(caught, 'INVALID_INPUT')).toBe(true);
      }
    });
  });
}
