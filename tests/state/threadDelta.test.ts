/**
 * Delta saves of ThreadStateRepository: only changed keys and appended items are written, the head is
 * compare-and-set, history and retention, compact, and a SIGKILL in the middle of a save, on memory,
 * SQLite and PostgreSQL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/codec/index.ts';
import {
  type BatchOperation,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
} from '../../src/drivers/index.ts';
import { RevisionConflictError } from '../../src/errors.ts';
import { lastValue, StateStore, ThreadStateRepository } from '../../src/state/index.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';
import { startLineChild } from '../support/lineChild.ts';
import { recordingBatches } from '../support/recording.ts';
import { dropSchema, POSTGRES_URL, uniqueName } from '../support/services.ts';
import { Commits, Log } from './fixtures/keys.ts';

const factories = driverFactories.filter((f) => ['memory', 'sqlite', 'postgres'].includes(f.name));
const available = new Map<string, boolean>();
for (const factory of factories) available.set(factory.name, await factory.available());

const Big = lastValue<string>({ key: 'big', initial: () => '', scope: 'thread' });

function valueWrites(batch: BatchOperation[] | undefined) {
  return (batch ?? []).filter((op) => op.namespace === 'agentstate.threads.values');
}

describe.each(factories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'delta thread saves on %s',
  (name, factory) => {
    let fixture: DriverFixture;
    let batches: BatchOperation[][];
    let repo: ThreadStateRepository;

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      fixture = await factory.create();
      const recorded = recordingBatches(fixture.store);
      batches = recorded.batches;
      repo = new ThreadStateRepository(recorded.store, { keepRevisions: 5 });
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });
    /** Saves each of `saves` in turn as the thread's next state (state revisions 1, 2, ...). */
    async function saveInTurn(threadId: string, saves: ReadonlyArray<Record<string, JsonValue>>) {
      let documentRevision = 0;
      for (const [i, extensions] of saves.entries()) {
        documentRevision = (
          await repo.save(threadId, { revision: i + 1, extensions }, { expectedRevision: documentRevision })
        ).documentRevision;
      }
    }

    it('writes only changed keys, and only the appended items of a list', async () => {
      const state = new StateStore({ keys: [Log, Commits, Big] });
      const session = await repo.open('t', state);
      const batch = state.batch().update(Big, 'y'.repeat(100_000)).update(Commits, 1);
      for (let i = 0; i < 1000; i++) batch.update(Log, `line ${i}`);
      state.commit(batch);
      await session.save();
      state.commit(state.batch().update(Commits, 1).update(Log, 'one more'));
      await session.save();
      const writes = valueWrites(batches.at(-1));
      // The log's new item (the counter is small, so it lives in the head): the 100 KB value and the
      // 1,000 old lines are not written.
      const puts = writes.filter((op) => op.type === 'put');
      expect(puts.map((op) => (op.type === 'put' ? op.value : undefined))).toEqual([['one more']]);
      const head = batches.at(-1)?.find((op) => op.namespace === 'agentstate.threads');
      // Values kept in the head are one JSON text, not objects the driver's codec walks on every save.
      expect(head?.type === 'put' && head.value).toMatchObject({ inline: '{"commits":2}' });
      expect(JSON.stringify(puts).length).toBeLessThan(1000);
      const other = new StateStore({ keys: [Log, Commits, Big] });
      await repo.open('t', other);
      expect(other.get(Log)).toHaveLength(1001);
      expect(other.get(Log)[1000]).toBe('one more');
      expect(other.get(Commits)).toBe(2);
      expect(other.get(Big)).toHaveLength(100_000);
      // A save with nothing changed writes no value at all.
      await session.save();
      expect(valueWrites(batches.at(-1)).filter((op) => op.type === 'put')).toEqual([]);
    });

    it('keeps a growing list in few chunks, and compact makes it one again', async () => {
      const state = new StateStore({ keys: [Log, Big] });
      const session = await repo.open('t', state);
      state.update(Big, 'z'.repeat(1000));
      for (let i = 0; i < 100; i++) {
        state.update(Log, `line ${i}`);
        await session.save();
      }
      const stored = await fixture.store.get<{ keys: Record<string, { chunks: unknown[] }> }>(
        repo.namespace,
        't',
      );
      expect(stored?.value.keys.log?.chunks.length).toBeLessThanOrEqual(8);
      const compacted = await repo.compact('t');
      expect(compacted?.state.extensions.log).toHaveLength(100);
      const after = await fixture.store.get<{ keys: Record<string, { chunks: unknown[] }> }>(
        repo.namespace,
        't',
      );
      expect(after?.value.keys.log?.chunks).toHaveLength(1);
      const other = new StateStore({ keys: [Log, Big] });
      const reopened = await repo.open('t', other);
      expect(other.get(Log)).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i}`));
      expect(other.get(Big)).toBe('z'.repeat(1000));
      // The compacted thread takes further delta saves.
      other.update(Log, 'after compact');
      await reopened.save();
      expect((await repo.load('t'))?.state.extensions.log).toHaveLength(101);
    });

    it('lists revisions in history and keeps only as many as retention allows', async () => {
      const state = new StateStore({ keys: [Log, Commits] });
      const session = await repo.open('t', state);
      state.update(Commits, 1);
      await session.save();
      // Items long enough that the list leaves the head and is stored as chunks.
      state.update(Log, 'a'.repeat(300));
      await session.save();
      state.update(Log, 'b'.repeat(300));
      await session.save();
      const first = await repo.history('t');
      expect(
        first.map(({ documentRevision, changed, appended }) => ({ documentRevision, changed, appended })),
      ).toEqual([
        { documentRevision: 1, changed: ['log', 'commits'], appended: [] },
        { documentRevision: 2, changed: ['log'], appended: [] },
        { documentRevision: 3, changed: [], appended: ['log'] },
      ]);
      for (let i = 0; i < 45; i++) {
        state.update(Commits, 1);
        await session.save();
      }
      const history = await repo.history('t');
      // Retention (every 16th save, here the 48th) keeps exactly keepRevisions records, the newest.
      expect(history).toHaveLength(5);
      expect(history.at(-1)?.documentRevision).toBe(48);
      // A lower keepRevisions removes every record beyond it, not one per save.
      const lower = await new ThreadStateRepository(fixture.store, { keepRevisions: 2 }).open('t', state);
      for (let i = 0; i < 16; i++) {
        state.update(Commits, 1);
        await lower.save();
      }
      expect((await repo.history('t')).map((entry) => entry.documentRevision)).toEqual([63, 64]);
    });

    it('a stale revision is a conflict naming the thread, and nothing is written', async () => {
      const state = new StateStore({ keys: [Log, Commits] });
      const session = await repo.open('t', state);
      state.update(Log, 'first');
      await session.save();
      const stale = await repo.loadBase('t');
      state.update(Log, 'second');
      await session.save();
      const error = await repo
        .saveDelta('t', { revision: 9, extensions: { log: ['first', 'other'], commits: 5 } }, stale!.base)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RevisionConflictError);
      expect((error as RevisionConflictError).details).toMatchObject({ threadId: 't', expectedRevision: 1 });
      expect((await repo.load('t'))?.state.extensions).toEqual({ log: ['first', 'second'], commits: 0 });
    });

    it('rebuilds the state of any retained revision from the values later saves replaced', async () => {
      const item = (n: number) => `${n}`.repeat(200);
      const saves: Array<Record<string, JsonValue>> = [
        { a: 1, big: 'p'.repeat(300), list: [item(1), item(2)] },
        { a: 2, big: 'p'.repeat(300), list: [item(1), item(2), item(3)] }, // a rewritten, list appended
        { a: 2, big: 'q'.repeat(300), list: [item(1), item(2), item(3)], c: true }, // big rewritten, c created
        { a: 2, list: [item(1), item(2), item(3), item(4)], c: true }, // big removed, list appended
        { a: 3, list: ['x'], c: true }, // list rewritten (now inline), a rewritten
        { a: 3, list: ['x'], c: true }, // nothing changed
      ];
      await saveInTurn('t', saves);
      const states = await repo.statesAt('t', [1, 2, 3, 4, 5, 6]);
      expect(states?.map((s) => (s.retained ? s.extensions : s))).toEqual(saves);
      expect(states?.map((s) => (s.retained ? s.revision : 0))).toEqual([1, 2, 3, 4, 5, 6]);
      // Through a session (the base it keeps), as agents save.
      const state = new StateStore({ keys: [Log, Commits] });
      const session = await repo.open('s', state);
      const seen: Array<Record<string, JsonValue>> = [];
      for (const line of ['one', 'two', 'three']) {
        state.commit(state.batch().update(Log, line.repeat(100)).update(Commits, 1));
        await session.save();
        seen.push(structuredClone(state.exportPersisted().extensions));
      }
      expect((await repo.statesAt('s', [1, 2, 3]))?.map((s) => s.retained && s.extensions)).toEqual(seen);
      // A bounded walk answers what is beyond it as not retained.
      expect(await repo.statesAt('s', [1], { maxSaves: 1 })).toEqual([
        { documentRevision: 1, retained: false, oldestRetained: 2 },
      ]);
      await expect(repo.statesAt('s', [4])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });

    it('keeps replaced values only as long as retention keeps the revision, and compact and delete drop them', async () => {
      const replacedOf = async (threadId: string) =>
        (await fixture.store.list(`${repo.namespace}.replaced`, { prefix: `${threadId.length}:${threadId}` }))
          .items.length;
      let documentRevision = 0;
      // Values rewritten whole and too large for the history record: each save keeps a document of them.
      for (let i = 1; i <= 20; i++) {
        const extensions = { n: i, text: `${i}`.repeat(1500) };
        documentRevision = (
          await repo.save('t', { revision: i, extensions }, { expectedRevision: documentRevision })
        ).documentRevision;
      }
      // Retention ran at save 16 (keepRevisions 5): records up to 11 are gone with their replaced values.
      expect(await replacedOf('t')).toBeLessThanOrEqual(5 + 15);
      const [gone, kept] = (await repo.statesAt('t', [11, 12])) ?? [];
      expect(gone).toEqual({ documentRevision: 11, retained: false, oldestRetained: 12 });
      expect(kept).toMatchObject({ retained: true, extensions: { n: 12, text: '12'.repeat(1500) } });
      await repo.compact('t');
      expect(await replacedOf('t')).toBe(0);
      expect((await repo.statesAt('t', [20]))?.[0]).toMatchObject({ retained: false, oldestRetained: 21 });
      const extensions = { n: 22, text: 'x'.repeat(3000) };
      await repo.save('t', { revision: 22, extensions }, { expectedRevision: 21 });
      expect(await replacedOf('t')).toBe(1);
      expect(await repo.delete('t')).toBe(true);
      expect(await replacedOf('t')).toBe(0);
    });

    it('keeps a small change of a large value as a reverse patch in the history record, and rebuilds it', async () => {
      const messages = Array.from({ length: 40 }, (_, i) => ({
        role: 'user',
        content: `turn ${i} `.repeat(30),
      }));
      const saves: Array<Record<string, JsonValue>> = [
        { doc: `step 0: ${'x'.repeat(5000)}`, chat: { messages, turns: 40 } },
        { doc: `step 1: ${'x'.repeat(5000)}`, chat: { messages, turns: 40 } },
        {
          doc: `step 1: ${'x'.repeat(5000)}`,
          chat: { messages: messages.map((m, i) => (i === 7 ? { ...m, content: 'edited' } : m)), turns: 41 },
        },
        { doc: `step 3: ${'x'.repeat(5000)}`, chat: { messages, turns: 42, note: 'added' } },
      ];
      await saveInTurn('p', saves);
      // No save needed a document of replaced values: each one's patches fit its history record.
      const replaced = await fixture.store.list(`${repo.namespace}.replaced`, { prefix: '1:p' });
      expect(replaced.items).toEqual([]);
      const history = await fixture.store.list(`${repo.namespace}.history`, { prefix: '1:p' });
      expect(Math.max(...history.items.map((item) => JSON.stringify(item.value).length))).toBeLessThan(700);
      const states = await repo.statesAt('p', [1, 2, 3, 4]);
      expect(states?.map((s) => (s.retained ? s.extensions : s))).toEqual(saves);
      // The records listed by history carry no patches.
      expect(Object.keys((await repo.history('p'))[1]!).sort()).toEqual(
        ['appended', 'changed', 'documentRevision', 'revision', 'savedAt'].sort(),
      );
    });

    it('keeps a large record of replaced values whole in its own document, readable without patches', async () => {
      const saves: Array<Record<string, JsonValue>> = [
        { small: `one ${'s'.repeat(1000)}`, big: 'a'.repeat(3000) },
        // small: a patch of a few characters; big: rewritten whole (too large for the history record).
        { small: `two ${'s'.repeat(1000)}`, big: 'b'.repeat(3000) },
      ];
      await saveInTurn('w', saves);
      const replaced = await fixture.store.list(`${repo.namespace}.replaced`, { prefix: '1:w' });
      // Every old value whole: a release that knew no patches reads this document correctly too.
      expect(replaced.items.map((item) => item.value)).toEqual([
        { before: { small: saves[0]!.small!, big: saves[0]!.big! }, created: [], lengths: {} },
      ]);
      const states = await repo.statesAt('w', [1, 2]);
      expect(states?.map((s) => (s.retained ? s.extensions : s))).toEqual(saves);
    });

    it('saves a value nested almost as deep as values may be, keeping what it replaced where it fits', async () => {
      const chain = (depth: number, leaf: string): JsonValue => {
        let value: JsonValue = leaf;
        for (let i = 1; i < depth; i++) value = { c: value };
        return value;
      };
      const big = 'B'.repeat(20_000);
      // 505 deep: the patch is too deep for the history record, the old value whole fits a document of
      // its own. 511 deep: nothing fits, the save goes without the record.
      for (const [depth, retained] of [
        [505, true],
        [511, false],
      ] as const) {
        const threadId = `deep${depth}`;
        const saves = ['a', 'b'].map((leaf) => ({ k: { big, c: chain(depth, leaf) } }));
        await saveInTurn(threadId, saves);
        expect((await repo.load(threadId))?.state.extensions).toEqual(saves[1]);
        const documents = await fixture.store.list(`${repo.namespace}.replaced`, { prefix: `7:${threadId}` });
        expect(documents.items.length).toBe(retained ? 1 : 0);
        const [first] = (await repo.statesAt(threadId, [1])) ?? [];
        expect(first).toEqual(
          retained
            ? expect.objectContaining({ retained: true, extensions: saves[0] })
            : { documentRevision: 1, retained: false, oldestRetained: 2 },
        );
      }
    });

    it('answers a revision whose patch does not fit the state as not retained, never a wrong state', async () => {
      await saveInTurn('d', [{ text: `a${'x'.repeat(3000)}` }, { text: `b${'x'.repeat(3000)}` }]);
      // The history record of save 2 now holds a patch for a string longer than the stored value.
      const records = await fixture.store.list(`${repo.namespace}.history`, { prefix: '1:d' });
      const second = records.items.at(-1)!;
      const value = second.value as { undo: { patches: { text: { s: [number, number, string] } } } };
      expect(value.undo.patches.text.s[0]).toBe(0);
      value.undo.patches.text.s = [2, 5000, 'z'];
      await fixture.store.put(`${repo.namespace}.history`, second.id, value as unknown as JsonValue);
      expect(await repo.statesAt('d', [1, 2])).toEqual([
        { documentRevision: 1, retained: false, oldestRetained: 2 },
        expect.objectContaining({ documentRevision: 2, retained: true }),
      ]);
    });
  },
);

const crasher = fileURLToPath(new URL('./fixtures/threadCrasher.ts', import.meta.url));
const crashLocations: Record<
  string,
  () => Promise<{ location: object; open(): DocumentStore; cleanup(): Promise<void> }>
> = {
  async sqlite() {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-crash-'));
    const path = join(dir, 'state.db');
    return {
      location: { path },
      open: () => createSqliteStore({ path }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  async postgres() {
    const schema = uniqueName('as_crash');
    return {
      location: { connectionString: POSTGRES_URL, schema },
      open: () => createPostgresStore({ connectionString: POSTGRES_URL, schema }),
      cleanup: () => dropSchema(schema),
    };
  },
};

describe.each(['sqlite', 'postgres'])('kill -9 in the middle of delta saves on %s', (name) => {
  it('leaves the last complete revision loadable', async (context) => {
    if (!available.get(name)) context.skip();
    const place = await crashLocations[name]!();
    const child = startLineChild(crasher, [name, JSON.stringify(place.location)]);
    child.done.catch(() => {});
    try {
      await child.ready;
      // Let it save a few times, then kill it at a random moment of a save.
      while (child.lines.length < 5) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
      child.child.kill('SIGKILL');
      await new Promise((resolve) => child.child.once('exit', resolve));
      const lastReported = Number(child.lines.at(-1)?.split(' ')[1]);
      const documents = place.open();
      try {
        const Big2 = lastValue<string>({ key: 'big', initial: () => '', scope: 'thread' });
        const state = new StateStore({ keys: [Log, Commits, Big2] });
        await new ThreadStateRepository(documents).open('crash', state);
        const n = state.get(Commits);
        // The saved revision is whole: every key is from the same save, which was reported or in flight.
        expect(n).toBeGreaterThanOrEqual(lastReported);
        expect(n).toBeLessThanOrEqual(lastReported + 1);
        expect(state.get(Log)).toEqual(Array.from({ length: n }, (_, i) => `line ${i + 1}`));
        expect(state.get(Big2).startsWith(`${n}:`)).toBe(true);
      } finally {
        await documents.close();
      }
    } finally {
      await place.cleanup();
    }
  });
});

describe('stored thread heads', () => {
  it('loads heads whose small values are locations of their own (written before the inline text)', async () => {
    const documents = createMemoryStore();
    await documents.put('agentstate.threads', 'old', {
      format: 'delta',
      revision: 3,
      keys: { commits: { v: 3 }, log: { v: ['a', 'b'] } },
    });
    const state = new StateStore({ keys: [Log, Commits] });
    const session = await new ThreadStateRepository(documents).open('old', state);
    expect(state.get(Commits)).toBe(3);
    expect(state.get(Log)).toEqual(['a', 'b']);
    // Its next save writes the current form, which loads the same.
    state.update(Commits, 1);
    await session.save();
    const again = new StateStore({ keys: [Log, Commits] });
    await new ThreadStateRepository(documents).open('old', again);
    expect(again.get(Commits)).toBe(4);
    expect(again.get(Log)).toEqual(['a', 'b']);
  });

  it('reports a head whose inline text is damaged as CORRUPT_STATE naming the thread', async () => {
    const documents = createMemoryStore();
    await documents.put('agentstate.threads', 'bad', {
      format: 'delta',
      revision: 1,
      keys: {},
      inline: '{"a":',
    });
    await expect(new ThreadStateRepository(documents).load('bad')).rejects.toMatchObject({
      code: 'CORRUPT_STATE',
      details: { threadId: 'bad' },
    });
  });
});
