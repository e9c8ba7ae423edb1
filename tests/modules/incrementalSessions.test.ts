/**
 * Incremental session saves: an unchanged session is not written, grown messages are appended as one
 * chunk, other changes rewrite that session's record alone; everything loads back, including sessions
 * saved in the earlier whole-document format. On memory, SQLite and PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchOperation } from '../../src/drivers/index.ts';
import { moduleTypes, SessionManager, SessionStateModule } from '../../src/index.ts';
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
      session.messages.splice(0, 2);
      session.markChanged('messages');
      await manager.saveAll();
      const restored = new SessionManager({ store: fixture.store });
      await restored.loadAll();
      expect(restored.getSession('s')!.messages.map((m) => m.content)).toEqual(['m2', 'm3', 'm4']);
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
