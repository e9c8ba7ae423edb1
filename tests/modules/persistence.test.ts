/**
 * saveAll/loadAll of the agent and session managers on every DocumentStore driver, including crash
 * safety: a save that fails part-way leaves the previous saved state complete and loadable.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AGENT_MODULE_TYPE,
  AgentStateManager,
  AgentStateModule,
  type BatchOperation,
  type DocumentStore,
  ModuleTypeRegistry,
  SessionManager,
} from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';
import { type DriverFixture, driverFactories } from '../support/drivers.ts';

const drivers = await Promise.all(
  driverFactories.map(async (f) => ({ factory: f, ok: await f.available() })),
);

/** A store whose batch fails: either before reaching the driver, or inside it after some operations. */
function failingBatch(store: DocumentStore, mode: 'before' | 'inside'): DocumentStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'batch') return Reflect.get(target, property, receiver);
      return async (operations: BatchOperation[]) => {
        if (mode === 'before') throw new Error('process killed before the write');
        // Half-way through, an operation the driver must refuse (stale compare-and-set): the driver
        // has already handled the first half when it fails, and must roll all of it back.
        const half = Math.floor(operations.length / 2);
        const poisoned: BatchOperation[] = [
          ...operations.slice(0, half),
          { type: 'put', namespace: 'poison', id: 'p', value: 1, options: { expectedRevision: 99 } },
          ...operations.slice(half),
        ];
        return target.batch(poisoned);
      };
    },
  });
}

function summarize(manager: SessionManager): unknown {
  return manager.listSessions().map((s) => s.stateDict());
}

for (const { factory, ok } of drivers) {
  describe.skipIf(!ok)(`managers on the ${factory.name} driver`, () => {
    let fixture: DriverFixture | undefined;
    const reopened: DocumentStore[] = [];

    async function open(): Promise<DocumentStore> {
      fixture = await factory.create();
      return fixture.store;
    }

    // A second handle on the same data where the driver has one (a restart), else the same store.
    async function again(store: DocumentStore): Promise<DocumentStore> {
      if (!fixture?.reopen) return store;
      const other = await fixture.reopen();
      reopened.push(other);
      return other;
    }

    afterEach(async () => {
      for (const s of reopened.splice(0)) await s.close();
      await fixture?.cleanup();
      fixture = undefined;
    });

    it('sessions survive saveAll/loadAll with messages, context, participants, status and expiry', async () => {
      const store = await open();
      const clock = new ManualClock();
      const manager = new SessionManager({ store, now: clock.now });
      const s1 = manager.createSession('s1', { participants: ['u1', 'u2'], expiresInMs: 10_000 });
      s1.addMessage({ role: 'user', content: 'hello', at: new Date(5) }, 'u1');
      s1.updateContext('topic', { name: 'weather', tags: new Set(['a']) });
      manager.createSession('s2').pause('later');
      expect(await manager.saveAll()).toEqual({ saved: 2, written: 2, deleted: 0 });

      const restored = new SessionManager({ store: await again(store), now: clock.now });
      expect(await restored.loadAll()).toBe(2);
      expect(summarize(restored)).toEqual(summarize(manager));
      const r1 = restored.getSession('s1')!;
      expect(r1.messages[0]!.at).toEqual(new Date(5));
      expect(r1.context.get('topic')).toEqual({ name: 'weather', tags: new Set(['a']) });
      expect(restored.getSession('s2')!.status).toBe('paused');
      // Loaded sessions use the manager's clock for expiry.
      clock.advance(10_000);
      expect(restored.cleanupExpired()).toBe(1);
    });

    it('agents survive saveAll/loadAll', async () => {
      const store = await open();
      const manager = new AgentStateManager({ store });
      const a = manager.createAgent('a');
      a.startTask('t1');
      a.addConversationMessage({ role: 'assistant', content: 'working' });
      manager.createAgent('b').updateStatus('offline', 'maintenance');
      await manager.saveAll();
      const restored = new AgentStateManager({ store: await again(store) });
      expect(await restored.loadAll()).toBe(2);
      expect(restored.listAgents().map((x) => x.stateDict())).toEqual(
        manager.listAgents().map((x) => x.stateDict()),
      );
      expect(restored.getAgent('a')).toBeInstanceOf(AgentStateModule);
      expect(restored.agentsByStatus('offline').map((x) => x.agentId)).toEqual(['b']);
    });

    it('removed sessions are deleted by the next saveAll', async () => {
      const store = await open();
      const manager = new SessionManager({ store });
      manager.createSession('keep');
      manager.createSession('drop');
      await manager.saveAll();
      manager.removeSession('drop');
      expect(await manager.saveAll()).toEqual({ saved: 1, written: 0, deleted: 1 });
      const restored = new SessionManager({ store });
      await restored.loadAll();
      expect(restored.sessionIds()).toEqual(['keep']);
      expect(await store.get('sessions', 'drop')).toBeUndefined();
    });

    it('ids are data: path-like and prototype-like ids are stored as document ids', async () => {
      const store = await open();
      const manager = new SessionManager({ store });
      const ids = ['../../etc/passwd', 'a/b\\c', '__proto__', 'constructor', 'üñí code'];
      for (const id of ids) manager.createSession(id);
      const outcome = await manager.saveAll().then(
        () => undefined,
        (error: unknown) => error,
      );
      if (outcome !== undefined) {
        // A driver may refuse ids its storage cannot hold safely (the fs driver refuses '/', '\\', '..'):
        // then it is a clear INVALID_INPUT and, the save being one batch, nothing at all was written.
        expect(outcome).toMatchObject({ code: 'INVALID_INPUT' });
        expect((await store.list('sessions')).items).toEqual([]);
        return;
      }
      for (const id of ids) expect((await store.get('sessions', id))?.id).toBe(id);
      const restored = new SessionManager({ store });
      await restored.loadAll();
      expect(restored.sessionIds().sort()).toEqual([...ids].sort());
    });

    it('saveAll writes everything with one batch call', async () => {
      const store = await open();
      const batch = vi.spyOn(store, 'batch');
      const put = vi.spyOn(store, 'put');
      const manager = new SessionManager({ store });
      for (let i = 0; i < 25; i++) manager.createSession(`s${i}`);
      await manager.saveAll();
      expect(batch).toHaveBeenCalledTimes(1);
      expect(batch.mock.calls[0]![0]).toHaveLength(25);
      expect(put).not.toHaveBeenCalled();
    });

    for (const mode of ['before', 'inside'] as const) {
      it(`a save that fails ${mode === 'before' ? 'before the write' : 'part-way inside the driver'} leaves the previous state loadable`, async () => {
        const store = await open();
        const manager = new SessionManager({ store: failingBatch(store, mode) });
        const good = new SessionManager({ store });
        for (let i = 0; i < 6; i++)
          good.createSession(`s${i}`, { participants: [`u${i}`] }).addMessage({ n: i });
        await good.saveAll();
        const before = summarize(good);

        await manager.loadAll();
        manager.getSession('s0')!.addMessage({ n: 'new' });
        manager.getSession('s5')!.end('changed');
        manager.removeSession('s3');
        manager.createSession('s9');
        await expect(manager.saveAll()).rejects.toThrow();

        const check = new SessionManager({ store: await again(store) });
        expect(await check.loadAll()).toBe(6);
        expect(summarize(check)).toEqual(before);
        expect(await store.get('poison', 'p')).toBeUndefined();
      });
    }

    it('after a failed save, a later save succeeds and includes the removals', async () => {
      const store = await open();
      let broken = true;
      const flaky = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'batch' && broken) return async () => Promise.reject(new Error('disk full'));
          return Reflect.get(target, property, receiver);
        },
      });
      const manager = new SessionManager({ store: flaky });
      manager.createSession('a');
      manager.createSession('b');
      broken = false;
      await manager.saveAll();
      broken = true;
      manager.removeSession('a');
      await expect(manager.saveAll()).rejects.toThrow('disk full');
      broken = false;
      expect(await manager.saveAll()).toEqual({ saved: 1, written: 0, deleted: 1 });
      const check = new SessionManager({ store });
      await check.loadAll();
      expect(check.sessionIds()).toEqual(['b']);
    });

    it('a value that cannot be stored fails the save before anything is written, naming the session and path', async () => {
      const store = await open();
      const manager = new SessionManager({ store });
      manager.createSession('ok');
      await manager.saveAll();
      manager.createSession('new');
      manager.createSession('bad').context.set('fn', () => 1); // bypasses updateContext's check
      const batch = vi.spyOn(store, 'batch');
      await expect(manager.saveAll()).rejects.toThrow(
        expect.objectContaining({
          code: 'INVALID_INPUT',
          details: expect.objectContaining({ id: 'bad', path: '$.context.get("fn")' }),
        }),
      );
      expect(batch).not.toHaveBeenCalled();
      expect(await store.get('sessions', 'new')).toBeUndefined();
    });

    it('a module whose id attribute was reassigned is refused by saveAll before anything is written', async () => {
      const store = await open();
      const manager = new AgentStateManager({ store });
      manager.createAgent('a');
      manager.createAgent('b').agentId = 'renamed';
      await expect(manager.saveAll()).rejects.toThrow(
        expect.objectContaining({
          code: 'INVALID_INPUT',
          details: expect.objectContaining({ id: 'b', changedTo: 'renamed' }),
        }),
      );
      expect(await store.get('agents', 'a')).toBeUndefined();
    });

    it('loadAll is all-or-nothing: one bad document fails it, naming the id, and memory is unchanged', async () => {
      const store = await open();
      const writer = new SessionManager({ store });
      writer.createSession('a');
      writer.createSession('b');
      await writer.saveAll();
      const reader = new SessionManager();
      const readerWithStore = new SessionManager({ store });
      readerWithStore.createSession('local');
      expect(reader.sessionIds()).toEqual([]);

      await store.put('sessions', 'c', { type: 'evil.Class', version: 1, state: {} });
      await expect(readerWithStore.loadAll()).rejects.toThrow(
        expect.objectContaining({
          code: 'UNKNOWN_TYPE',
          details: expect.objectContaining({ id: 'c', type: 'evil.Class' }),
        }),
      );
      expect(readerWithStore.sessionIds()).toEqual(['local']);

      const envelope = (await store.get<{ state: Record<string, unknown> }>('sessions', 'a'))!.value;
      await store.put('sessions', 'c', {
        ...envelope,
        state: { ...envelope.state, sessionId: 'c', status: 'weird' },
      });
      await expect(readerWithStore.loadAll()).rejects.toThrow(
        expect.objectContaining({
          code: 'CORRUPT_STATE',
          details: expect.objectContaining({ id: 'c', path: '$.status' }),
        }),
      );
      await store.put('sessions', 'c', envelope); // carries the id 'a'
      await expect(readerWithStore.loadAll()).rejects.toThrow(
        expect.objectContaining({
          code: 'CORRUPT_STATE',
          details: expect.objectContaining({ id: 'c', storedId: 'a' }),
        }),
      );
      expect(readerWithStore.sessionIds()).toEqual(['local']);
      // The bad document is left where it is for inspection.
      expect(await store.get('sessions', 'c')).toBeDefined();
    });

    it('loads older saved versions through the registered migration', async () => {
      const store = await open();
      const v1 = new AgentStateManager({ store });
      v1.createAgent('a').addConversationMessage({ text: 'old field name' });
      await v1.saveAll();

      const types = new ModuleTypeRegistry({ builtins: false }).register(
        AGENT_MODULE_TYPE,
        AgentStateModule,
        {
          version: 2,
          create: () => new AgentStateModule('pending'),
          migrate: (state, from) => {
            expect(from).toBe(1);
            const conversation = (state.conversation as Array<Record<string, unknown>>).map(
              ({ text, ...rest }) => ({
                ...rest,
                content: text,
              }),
            );
            return { ...state, conversation };
          },
        },
      );
      const v2 = new AgentStateManager({ store, types });
      await v2.loadAll();
      expect(v2.getAgent('a')!.conversation[0]!.content).toBe('old field name');
      await v2.saveAll();
      expect((await store.get<{ version: number }>('agents', 'a'))!.value.version).toBe(2);
      // Code that only knows version 1 refuses version-2 data instead of misreading it.
      await expect(new AgentStateManager({ store }).loadAll()).rejects.toThrow(
        expect.objectContaining({ code: 'UNKNOWN_TYPE' }),
      );
    });
  });
}
