/**
 * AgentStateSaver beyond the official suite: values stored once per (channel, version), the writes index
 * rules, coded errors for bad input, prune and per-thread TTL, on memory, SQLite and PostgreSQL.
 */
import { type Checkpoint, ERROR, INTERRUPT, uuid6 } from '@langchain/langgraph-checkpoint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentStateSaver } from '../../src/integrations/langgraph/index.ts';
import { ManualClock } from '../support/clock.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';

const factories = driverFactories.filter((f) => ['memory', 'sqlite', 'postgres'].includes(f.name));
const available = new Map<string, boolean>();
for (const factory of factories) available.set(factory.name, await factory.available());

const meta = { source: 'loop' as const, step: 0, parents: {} };

function checkpoint(values: Record<string, unknown>, versions: Record<string, number>): Checkpoint {
  return {
    v: 4,
    id: uuid6(-3),
    ts: new Date().toISOString(),
    channel_values: values,
    channel_versions: versions,
    versions_seen: {},
  };
}

async function count(saver: AgentStateSaver, namespace: string): Promise<number> {
  let n = 0;
  let cursor: string | undefined;
  do {
    const page = await saver.documents.list(namespace, { limit: 1000, ...(cursor ? { cursor } : {}) });
    n += page.items.length;
    cursor = page.cursor;
  } while (cursor);
  return n;
}

// Runs `steps` steps on a thread of `channels` channels, changing channel step % channels each step.
async function grow(saver: AgentStateSaver, threadId: string, steps: number, channels = 5) {
  const values: Record<string, unknown> = {};
  const versions: Record<string, number> = {};
  for (let c = 0; c < channels; c += 1) {
    values[`c${c}`] = `initial ${c}`;
    versions[`c${c}`] = 1;
  }
  let config = await saver.put(
    { configurable: { thread_id: threadId } },
    checkpoint(values, versions),
    meta,
    {
      ...versions,
    },
  );
  for (let step = 1; step < steps; step += 1) {
    const channel = `c${step % channels}`;
    values[channel] = `value of ${channel} at step ${step}`;
    versions[channel] = (versions[channel] ?? 0) + 1;
    config = await saver.put(
      config,
      checkpoint({ ...values }, { ...versions }),
      { ...meta, step },
      {
        [channel]: versions[channel]!,
      },
    );
  }
  return { config, values };
}

describe.each(factories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'AgentStateSaver on %s',
  (name, factory) => {
    let fixture: DriverFixture;
    let saver: AgentStateSaver;
    let clock: ManualClock;

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      fixture = await factory.create();
      clock = new ManualClock();
      saver = new AgentStateSaver(fixture.store, { now: clock.now, ttlMs: 60_000 });
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });

    it('stores each channel value once per version and reassembles every checkpoint', async () => {
      const { values } = await grow(saver, 't', 20);
      // 5 initial values and one per later step, not 20 copies of the state.
      expect(await count(saver, 'langgraph.blobs')).toBe(5 + 19);
      expect(await count(saver, 'langgraph.checkpoints')).toBe(20);
      const latest = await saver.getTuple({ configurable: { thread_id: 't' } });
      expect(latest?.checkpoint.channel_values).toEqual(values);
      const all = [];
      for await (const tuple of saver.list({ configurable: { thread_id: 't' } })) all.push(tuple);
      expect(all).toHaveLength(20);
      // Newest first; the oldest still has its initial values.
      expect(all[0]?.checkpoint.id).toBe(latest?.checkpoint.id);
      expect(all[19]?.checkpoint.channel_values).toEqual({
        c0: 'initial 0',
        c1: 'initial 1',
        c2: 'initial 2',
        c3: 'initial 3',
        c4: 'initial 4',
      });
      const page = [];
      for await (const tuple of saver.list(
        { configurable: { thread_id: 't' } },
        { before: all[5]?.config, limit: 3 },
      )) {
        page.push(tuple.checkpoint.id);
      }
      expect(page).toEqual([all[6], all[7], all[8]].map((t) => t?.checkpoint.id));
    });

    it('keeps regular writes on retry and never lets error or interrupt writes replace them', async () => {
      const config = await saver.put({ configurable: { thread_id: 't' } }, checkpoint({}, {}), meta, {});
      await saver.putWrites(
        config,
        [
          ['a', 1],
          ['b', 2],
        ],
        'task',
      );
      await saver.putWrites(
        config,
        [
          ['a', 'retried'],
          ['b', 'retried'],
        ],
        'task',
      );
      await saver.putWrites(config, [[ERROR, 'boom']], 'task');
      await saver.putWrites(config, [[ERROR, 'boom again']], 'task');
      await saver.putWrites(config, [[INTERRUPT, 'wait']], 'task');
      const tuple = await saver.getTuple(config);
      expect(tuple?.pendingWrites).toEqual([
        ['task', INTERRUPT, 'wait'],
        ['task', ERROR, 'boom again'],
        ['task', 'a', 1],
        ['task', 'b', 2],
      ]);
    });

    it('answers bad input with coded errors naming the thread and keeps what was stored', async () => {
      const config = await saver.put(
        { configurable: { thread_id: 't' } },
        checkpoint({ x: 1 }, { x: 1 }),
        meta,
        {
          x: 1,
        },
      );
      for (const threadId of ['a\0b', '../etc', 'a/../b', '']) {
        await expect(
          saver.put({ configurable: { thread_id: threadId } }, checkpoint({}, {}), meta, {}),
        ).rejects.toMatchObject({ code: 'INVALID_INPUT', details: { thread_id: threadId } });
      }
      // The codec refuses a function in the checkpoint record; the error names the thread and checkpoint.
      const odd = checkpoint({ x: 2 }, { x: 2 });
      odd.versions_seen = { node: { x: (() => 1) as unknown as number } };
      await expect(saver.put(config, odd, meta, { x: 2 })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        details: { threadId: 't', checkpointId: odd.id },
      });
      // A serializer that refuses a channel value: the error names the channel.
      const strict = new AgentStateSaver(fixture.store, {
        serde: {
          dumpsTyped: async (value: unknown) => {
            if (value === 'refused') throw new Error('not serializable');
            return ['json', new TextEncoder().encode(JSON.stringify(value))];
          },
          loadsTyped: async (_type: string, data: Uint8Array | string) =>
            JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)),
        },
      });
      await expect(
        strict.put(config, checkpoint({ x: 'refused' }, { x: 3 }), meta, { x: 3 }),
      ).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        details: { threadId: 't', channel: 'x' },
      });
      // Writes for a checkpoint whose put has not landed yet are kept (LangGraph's loop sends them first).
      const early = { configurable: { thread_id: 'early', checkpoint_ns: '', checkpoint_id: 'later' } };
      await saver.putWrites(early, [['a', 1]], 'task');
      await saver.put(
        { configurable: { thread_id: 'early' } },
        { ...checkpoint({}, {}), id: 'later' },
        meta,
        {},
      );
      expect((await saver.getTuple(early))?.pendingWrites).toEqual([['task', 'a', 1]]);
      const latest = await saver.getTuple({ configurable: { thread_id: 't' } });
      expect(latest?.checkpoint.channel_values).toEqual({ x: 1 });
      expect(latest?.pendingWrites).toEqual([]);
    });

    it('prune keeps the newest checkpoints and every value they need', async () => {
      const { values } = await grow(saver, 't', 20);
      await grow(saver, 'other', 3);
      const report = await saver.prune({ keepLast: 3, threadId: 't' });
      expect(report.checkpoints).toBe(17);
      const left = [];
      for await (const tuple of saver.list({ configurable: { thread_id: 't' } })) left.push(tuple);
      expect(left).toHaveLength(3);
      expect(left[0]?.checkpoint.channel_values).toEqual(values);
      // The oldest kept checkpoint still reads its values, some of which were written many steps before.
      expect(Object.keys(left[2]?.checkpoint.channel_values ?? {})).toHaveLength(5);
      // Only values of kept checkpoints remain: 5 current plus the 2 replaced within the kept window.
      expect(await count(saver, 'langgraph.blobs')).toBe(7 + 5 + 2);
    });

    it('prune by age keeps the newest checkpoint, and TTL deletes threads left alone too long', async () => {
      await grow(saver, 'old', 4);
      clock.advance(30_000);
      await grow(saver, 'recent', 4);
      clock.advance(31_000);
      const report = await saver.prune({ olderThanMs: 10_000 });
      expect(report.expiredThreads).toBe(1);
      expect(await saver.getTuple({ configurable: { thread_id: 'old' } })).toBeUndefined();
      const left = [];
      for await (const tuple of saver.list({ configurable: { thread_id: 'recent' } })) left.push(tuple);
      expect(left).toHaveLength(1);
      expect(left[0]?.checkpoint.channel_values).toMatchObject({ c3: 'value of c3 at step 3' });
    });

    it('TTL goes by the newest checkpoint of any namespace: an idle subgraph does not expire a live thread', async () => {
      const put = (ns: string, value: string, version: number) =>
        saver.put(
          { configurable: { thread_id: 't', checkpoint_ns: ns } },
          checkpoint({ x: value }, { x: version }),
          meta,
          { x: version },
        );
      await put('sub', 'old sub', 1);
      clock.advance(120_000);
      await put('', 'fresh root', 2);
      expect(await saver.prune()).toMatchObject({ expiredThreads: 0 });
      const root = await saver.getTuple({ configurable: { thread_id: 't', checkpoint_ns: '' } });
      expect(root?.checkpoint.channel_values).toEqual({ x: 'fresh root' });
      clock.advance(61_000);
      expect(await saver.prune()).toMatchObject({ expiredThreads: 1 });
      expect(await saver.getTuple({ configurable: { thread_id: 't', checkpoint_ns: '' } })).toBeUndefined();
    });

    it('a put during prune keeps its values, and a missing value is reported, not read as empty', async () => {
      const { config } = await grow(saver, 'u', 3, 1);
      const store = saver.documents;
      const list = store.list.bind(store);
      let injected = false;
      // The put lands between prune's listing of checkpoints and its listing of values.
      store.list = async (namespace, options) => {
        if (namespace === 'langgraph.blobs' && !injected) {
          injected = true;
          await saver.put(config, checkpoint({ c0: 'newest' }, { c0: 4 }), meta, { c0: 4 });
        }
        return list(namespace, options);
      };
      try {
        await saver.prune({ keepLast: 1 });
      } finally {
        store.list = list;
      }
      expect(injected).toBe(true);
      const latest = await saver.getTuple({ configurable: { thread_id: 'u' } });
      expect(latest?.checkpoint.channel_values).toEqual({ c0: 'newest' });
      await store.delete('langgraph.blobs', (await list('langgraph.blobs', {})).items.at(-1)!.id);
      // A reader that has not seen the value (another process; this one keeps the values it wrote).
      const reader = new AgentStateSaver(store);
      await expect(reader.getTuple({ configurable: { thread_id: 'u' } })).rejects.toMatchObject({
        code: 'CORRUPT_STATE',
      });
    });

    it('reads each value from the store once, and never hands two readers the same object', async () => {
      const reader = new AgentStateSaver(saver.documents);
      const version = reader.getNextVersion(undefined);
      const config = await reader.put(
        { configurable: { thread_id: 'cache' } },
        checkpoint({ list: [1, 2], text: 'x' }, { list: version, text: version }),
        meta,
        { list: version, text: version },
      );
      const first = await reader.getTuple(config);
      (first!.checkpoint.channel_values.list as number[]).push(3);
      const reads: string[] = [];
      const getMany = reader.documents.getMany?.bind(reader.documents);
      const get = reader.documents.get.bind(reader.documents);
      reader.documents.get = async (namespace, id) => {
        reads.push(`${namespace} ${id}`);
        return get(namespace, id);
      };
      if (getMany) {
        reader.documents.getMany = async (namespace, ids) => {
          reads.push(...ids.map((id) => `${namespace} ${id}`));
          return getMany(namespace, ids);
        };
      }
      try {
        const second = await reader.getTuple(config);
        expect(second!.checkpoint.channel_values).toEqual({ list: [1, 2], text: 'x' });
        // Another process's values are read once, then kept.
        const other = new AgentStateSaver(saver.documents);
        await other.getTuple(config);
        await other.getTuple(config);
      } finally {
        reader.documents.get = get;
        if (getMany) reader.documents.getMany = getMany;
      }
      expect(reads.filter((read) => read.startsWith('langgraph.blobs')).length).toBe(2);
    });

    it('a kept byte value is the one stored, whatever the caller does with its array later', async () => {
      const version = saver.getNextVersion(undefined);
      const bytes = new Uint8Array([1, 2, 3]);
      const config = await saver.put(
        { configurable: { thread_id: 'bytes' } },
        checkpoint({ b: bytes }, { b: version }),
        meta,
        { b: version },
      );
      bytes[0] = 99;
      const first = (await saver.getTuple(config))!.checkpoint.channel_values.b as Uint8Array;
      expect([...first]).toEqual([1, 2, 3]);
      first[1] = 42;
      const second = (await saver.getTuple(config))!.checkpoint.channel_values.b as Uint8Array;
      expect([...second]).toEqual([1, 2, 3]);
    });

    it('a thread deleted and begun again elsewhere with the same integer versions reads its new values', async () => {
      const config = await saver.put(
        { configurable: { thread_id: 'again' } },
        checkpoint({ c: 'first life' }, { c: 1 }),
        meta,
        { c: 1 },
      );
      expect((await saver.getTuple(config))?.checkpoint.channel_values).toEqual({ c: 'first life' });
      // Another process deletes the thread and begins it again: the same (channel, version), another value.
      const other = new AgentStateSaver(saver.documents);
      await other.deleteThread('again');
      await other.put(
        { configurable: { thread_id: 'again' } },
        checkpoint({ c: 'second life' }, { c: 1 }),
        meta,
        { c: 1 },
      );
      expect(
        (await saver.getTuple({ configurable: { thread_id: 'again' } }))?.checkpoint.channel_values,
      ).toEqual({ c: 'second life' });
    });

    it('valueCacheBytes: 0 keeps no values, and a bad size is refused', async () => {
      const uncached = new AgentStateSaver(saver.documents, { valueCacheBytes: 0 });
      const version = uncached.getNextVersion(undefined);
      const config = await uncached.put(
        { configurable: { thread_id: 'nocache' } },
        checkpoint({ c: 'v' }, { c: version }),
        meta,
        { c: version },
      );
      const blobs = (await saver.documents.list('langgraph.blobs', {})).items;
      await saver.documents.delete('langgraph.blobs', blobs.find((b) => b.id.includes('nocache'))!.id);
      await expect(uncached.getTuple(config)).rejects.toMatchObject({ code: 'CORRUPT_STATE' });
      expect(() => new AgentStateSaver(saver.documents, { valueCacheBytes: -1 })).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
    });
  },
);
