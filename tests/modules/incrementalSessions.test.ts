/**
 * Incremental session saves: an unchanged session is not written, grown messages are appended as one
 * chunk, other changes rewrite that session's record alone; everything loads back, including sessions
 * saved in the earlier whole-document format. On memory, SQLite and PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchOperation } from '../../src/drivers/index.ts';
import { createMemoryStore } from '../../src/drivers/index.ts';
import { createCachedStore, moduleTypes, SessionManager, SessionStateModule } from '../../src/index.ts';
import { ModuleCollection } from '../../src/modules/moduleCollection.ts';
import { StateRepository } from '../../src/modules/stateRepository.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';
import { recordingBatches } from '../support/recording.ts';

const factories = driverFactories.filter((f) => ['memory', 'sqlite', 'postgres'].includes(f.name));
const available = new Map<string, boolean>();
for (const factory of factories) available.set(factory.name, await factory.available());

const puts = (batch: BatchOperation[] | undefined) => (batch ?? []).filter((op) => op.type === 'put');

describe.each(factories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'incremental sessions on %s',
  (name, factory) => {
    let fixture: DriverFixture;
    let batches: BatchOperation[][];
    let manager: SessionManager;

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      fixture = await factory.create();
      const recorded = recordingBatches(fixture.store);
      batches = recorded.batches;
      manager = new SessionManager({ store: recorded.store });
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });

    it('writes only the changed session, and of grown messages only the new one', async () => {
      const big = manager.createSession('big');
      for (let i = 0; i < 1000; i++) big.addMessage({ role: 'user', content: `message ${i}` });
      for (let i = 0; i < 20; i++) manager.createSession(`other${i}`).addMessage({ content: 'hi' });
      await manager.saveAll();

      expect(await manager.saveAll()).toMatchObject({ saved: 21, written: 0 });
      expect(batches).toHaveLength(1); // nothing changed: no batch at all

      big.addMessage({ role: 'assistant', content: 'the new one' });
      expect(await manager.saveAll()).toMatchObject({ written: 1 });
      const written = puts(batches.at(-1));
      expect(written.map((op) => `${op.namespace}/${op.id}`)).toEqual([
        expect.stringMatching(/^sessions\.messages\/3:big/),
        'sessions/big',
      ]);
      expect(written[0]?.type === 'put' && written[0].value).toEqual([
        expect.objectContaining({ content: 'the new one', id: 'msg_1001' }),
      ]);

      // A change of something else rewrites that session's record only, not its messages.
      manager.getSession('other3')!.updateContext('topic', 'weather');
      await manager.saveAll();
      expect(puts(batches.at(-1)).map((op) => op.id)).toEqual(['other3']);

      const restored = new SessionManager({ store: fixture.store });
      expect(await restored.loadAll()).toBe(21);
      expect(restored.getSession('big')!.messages).toHaveLength(1001);
      expect(restored.getSession('big')!.messages[1000]).toMatchObject({ content: 'the new one' });
      expect(restored.getSession('other3')!.context.get('topic')).toBe('weather');
    });

    it('keeps few chunks while messages grow one per save, and loads them back in order', async () => {
      const session = manager.createSession('s');
      for (let i = 0; i < 200; i++) {
        session.addMessage({ content: `m${i}` });
        await manager.saveAll();
      }
      const record = await fixture.store.get<{ appendLog: { chunks: unknown[] } }>('sessions', 's');
      expect(record?.value.appendLog.chunks.length).toBeLessThanOrEqual(9);
      // Items written over the 200 saves: far below the 20,100 of rewriting the list each time.
      const items = batches
        .flatMap(puts)
        .reduce((n, op) => n + (Array.isArray(op.value) ? op.value.length : 0), 0);
      expect(items).toBeLessThan(200 * 9);
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual(
        Array.from({ length: 200 }, (_, i) => `m${i}`),
      );
      // After a load the next save is incremental too.
      restored.getSession('s')!.addMessage({ content: 'after load' });
      expect(await restored.saveAll()).toMatchObject({ written: 1 });
      const again = new SessionManager({ store: fixture.store });
      await again.loadAll();
      expect(again.getSession('s')!.messages).toHaveLength(201);
    });

    it('a full session that drops its oldest messages still only appends', async () => {
      const bounded = new SessionManager({
        store: recordingBatches(fixture.store).store,
        createSession: (id) => new SessionStateModule(id, { maxMessages: 50 }),
      });
      const session = bounded.createSession('s');
      for (let i = 0; i < 200; i++) {
        session.addMessage({ content: `m${i}` });
        await bounded.saveAll();
      }
      batches.length = 0;
      session.addMessage({ content: 'm200' });
      await bounded.saveAll();
      const items = batches
        .flatMap(puts)
        .reduce((n, op) => n + (Array.isArray(op.value) ? op.value.length : 0), 0);
      expect(items).toBeLessThan(50);
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual(
        Array.from({ length: 50 }, (_, i) => `m${151 + i}`),
      );
    });

    it('an edited message rewrites the list of that session, dropped ones stay dropped after a load', async () => {
      const session = manager.createSession('s');
      for (let i = 0; i < 5; i++) session.addMessage({ content: `m${i}` });
      await manager.saveAll();
      session.messages[0]!.content = 'edited';
      session.markChanged('messages');
      await manager.saveAll();
      const written = puts(batches.at(-1)).find((op) => op.namespace === 'sessions.messages');
      expect(
        Array.isArray(written?.type === 'put' && written.value) && (written as { value: unknown[] }).value,
      ).toHaveLength(5);
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('s')!.messages[0]?.content).toBe('edited');
      session.messages.splice(0, 2);
      session.markChanged('messages');
      await manager.saveAll();
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual(['m2', 'm3', 'm4']);
    });

    it('an edit in the middle, or a middle message removed, survives a reload', async () => {
      const session = manager.createSession('s');
      for (let i = 0; i < 5; i++) session.addMessage({ content: `m${i}` });
      await manager.saveAll();
      session.messages[2]!.content = 'EDITED';
      session.markChanged('messages');
      expect(await manager.saveAll()).toMatchObject({ written: 1 });
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual([
        'm0',
        'm1',
        'EDITED',
        'm3',
        'm4',
      ]);
      session.messages = session.messages.filter((m) => m.content !== 'm3');
      session.addMessage({ content: 'm5' });
      await manager.saveAll();
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual([
        'm0',
        'm1',
        'EDITED',
        'm4',
        'm5',
      ]);
    });

    it('a second manager saving the same session gets a conflict naming it, and the store stays loadable', async () => {
      const session = manager.createSession('s');
      manager.createSession('other').addMessage({ content: 'unrelated' });
      for (let i = 0; i < 6; i++) {
        session.addMessage({ content: `m${i}` });
        await manager.saveAll();
      }
      const a = new SessionManager({ store: fixture.store });
      await a.loadAll();
      const b = new SessionManager({ store: fixture.store });
      await b.loadAll();
      for (let i = 0; i < 3; i++) b.getSession('s')!.addMessage({ content: `b${i}` });
      await b.saveAll();
      a.getSession('s')!.addMessage({ content: 'a0' });
      await expect(a.saveAll()).rejects.toMatchObject({
        code: 'REVISION_CONFLICT',
        message: expect.stringContaining("session 's'"),
        details: expect.objectContaining({ id: 's' }),
      });
      // Still changed: a retry conflicts again rather than dropping the message silently.
      await expect(a.saveAll()).rejects.toMatchObject({ code: 'REVISION_CONFLICT' });
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual([
        ...Array.from({ length: 6 }, (_, i) => `m${i}`),
        'b0',
        'b1',
        'b2',
      ]);
      // After a load, the writer that lost saves normally.
      await a.loadAll();
      a.getSession('s')!.addMessage({ content: 'a0' });
      await a.saveAll();
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.at(-1)?.content).toBe('a0');
    });

    it('a session created under an existing id, or deleted by another manager, conflicts instead of overwriting', async () => {
      manager.createSession('s').addMessage({ content: 'kept' });
      await manager.saveAll();
      const other = new SessionManager({ store: fixture.store });
      other.createSession('s').addMessage({ content: 'clobber' });
      await expect(other.saveAll()).rejects.toMatchObject({ code: 'REVISION_CONFLICT' });
      const b = new SessionManager({ store: fixture.store });
      await b.loadAll();
      b.removeSession('s');
      await b.saveAll();
      manager.getSession('s')!.addMessage({ content: 'late' });
      await expect(manager.saveAll()).rejects.toMatchObject({ code: 'REVISION_CONFLICT' });
      const restored = new SessionManager({ store: fixture.store });
      expect(await restored.loadAll()).toBe(0);
    });

    it('loads sessions saved whole by the earlier format and converts them on the next save', async () => {
      const old = new SessionManager();
      const legacy = old.createSession('legacy');
      legacy.addMessage({ content: 'kept' });
      // The earlier format: the envelope with its messages inline.
      await fixture.store.put('sessions', 'legacy', moduleTypes.toEnvelope(legacy));
      await manager.loadAll();
      manager.getSession('legacy')!.addMessage({ content: 'new' });
      await manager.saveAll();
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('legacy')!.messages.map((m) => m.content)).toEqual(['kept', 'new']);
    });
  },
);

describe('incremental sessions through a CachedStore', () => {
  it('loads sessions whose messages can be changed, though the cache shares frozen chunks', async () => {
    const store = createCachedStore(createMemoryStore());
    const manager = new SessionManager({ store });
    const created = manager.createSession('s');
    for (let i = 0; i < 3; i++) created.addMessage({ role: 'user', content: `m${i}` });
    await manager.saveAll();
    manager.getSession('s')!.addMessage({ role: 'user', content: 'appended' });
    await manager.saveAll();
    for (let read = 0; read < 2; read++) {
      const other = new SessionManager({ store });
      expect(await other.loadAll()).toBe(1);
      const session = other.getSession('s')!;
      expect(session.messages.map((m) => m.content)).toEqual(['m0', 'm1', 'm2', 'appended']);
      session.messages[0]!.content = 'edited';
      expect(session.messages[0]!.content).toBe('edited');
    }
    await store.close();
  });
});

describe('an incremental save visits only the changed sessions', () => {
  it('checks and writes the changed and removed sessions, not the unchanged ones', async () => {
    const store = createMemoryStore();
    let visited = 0;
    const collection = new ModuleCollection<SessionStateModule>({
      repository: new StateRepository(store),
      namespace: 'sessions',
      types: moduleTypes,
      expected: SessionStateModule,
      label: 'session',
      idOf: (module) => {
        visited += 1;
        return module.sessionId;
      },
      onAdd: () => {},
      onRemove: () => {},
      appendLog: { attribute: 'messages', namespace: 'sessions.messages' },
    });
    for (let i = 0; i < 500; i++) collection.add(`s${i}`, new SessionStateModule(`s${i}`));
    await collection.saveAll();
    visited = 0;
    collection.get('s7')!.addMessage({ content: 'one more' });
    collection.remove('s9');
    expect(await collection.saveAll()).toMatchObject({ saved: 499, written: 1, deleted: 1 });
    expect(visited).toBeLessThanOrEqual(2);
  });
});
