/**
 * StateRepository on every driver and through a router: save, load (new or into a module), delete,
 * list, exists and info; registered types only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  AgentStateManager,
  AgentStateModule,
  createCachedStore,
  createMemoryStore,
  type DocumentStore,
  isAgentStateError,
  ModuleTypeRegistry,
  SessionManager,
  SessionStateModule,
  StateModule,
  StateRepository,
} from '../../src/index.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';
import { routerFactory } from '../support/persistence.ts';

class Note extends StateModule {
  title = '';
  constructor() {
    super();
    this.registerState('title');
  }
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isAgentStateError(error)) return error.code;
    throw error;
  }
  return 'none';
}

const factories: DriverFactory[] = [...driverFactories, routerFactory];
const available = await Promise.all(factories.map((f) => f.available()));

factories.forEach((factory, index) => {
  describe.skipIf(!available[index])(`StateRepository on ${factory.name}`, () => {
    let fixture: DriverFixture | undefined;
    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });
    async function open(options = {}): Promise<DocumentStore> {
      fixture = await factory.create(options);
      return fixture.store;
    }

    it('saves, loads, lists, describes and deletes modules', async () => {
      const repo = new StateRepository(await open());
      const agent = new AgentStateModule('a1');
      agent.addConversationMessage({ role: 'user', content: 'hello' });
      const info = await repo.save('agents', 'a1', agent);
      expect(info).toMatchObject({ id: 'a1', revision: 1, typeName: 'agentstate.agent', typeVersion: 1 });
      expect(info.sizeBytes).toBeGreaterThan(0);
      expect(info.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(info.compressed).toBe(false);
      const loaded = await repo.load('agents', 'a1', { type: AgentStateModule });
      expect(loaded).toBeInstanceOf(AgentStateModule);
      expect(loaded?.stateDict()).toEqual(agent.stateDict());
      expect(await repo.exists('agents', 'a1')).toBe(true);
      expect(await repo.exists('agents', 'nobody')).toBe(false);
      expect(await repo.load('agents', 'nobody')).toBeUndefined();
      expect(await repo.info('agents', 'a1')).toEqual(info);
      await repo.save('agents', 'a2', new AgentStateModule('a2'));
      const page = await repo.list('agents', { limit: 1 });
      expect(page.items.map((i) => i.id)).toEqual(['a1']);
      const next = await repo.list('agents', { limit: 1, cursor: page.cursor! });
      expect(next.items.map((i) => i.id)).toEqual(['a2']);
      expect(await repo.delete('agents', 'a1')).toBe(true);
      expect(await repo.exists('agents', 'a1')).toBe(false);
    });

    it('loads into an existing module, refusing another type and changing nothing then', async () => {
      const repo = new StateRepository(await open());
      const saved = new AgentStateModule('a1');
      saved.addConversationMessage({ role: 'user', content: 'hi' });
      await repo.save('agents', 'a1', saved);
      const target = new AgentStateModule('a1');
      expect(await repo.load('agents', 'a1', { into: target })).toBe(target);
      expect(target.stateDict()).toEqual(saved.stateDict());
      const session = new SessionStateModule('s1');
      const before = session.stateDict();
      expect(await code(repo.load('agents', 'a1', { into: session as never }))).toBe('UNKNOWN_TYPE');
      expect(await code(repo.load('agents', 'a1', { type: SessionStateModule as never }))).toBe(
        'UNKNOWN_TYPE',
      );
      expect(session.stateDict()).toEqual(before);
    });

    it('uses compare-and-set on save', async () => {
      const repo = new StateRepository(await open());
      await repo.save('agents', 'a1', new AgentStateModule('a1'), { expectedRevision: 0 });
      expect(await code(repo.save('agents', 'a1', new AgentStateModule('a1'), { expectedRevision: 0 }))).toBe(
        'REVISION_CONFLICT',
      );
      expect(
        (await repo.save('agents', 'a1', new AgentStateModule('a1'), { expectedRevision: 1 })).revision,
      ).toBe(2);
    });

    it('saves and loads registered types only, never a class named by data', async () => {
      const store = await open();
      const repo = new StateRepository(store);
      expect(await code(repo.save('notes', 'n1', new Note()))).toBe('UNKNOWN_TYPE');
      expect(await store.get('notes', 'n1')).toBeUndefined();
      await store.put('notes', 'n2', { type: 'Note', version: 1, state: { title: 'x' } });
      expect(await code(repo.load('notes', 'n2'))).toBe('UNKNOWN_TYPE');
      const types = new ModuleTypeRegistry().register('test.note', Note);
      const typed = new StateRepository(store, { types });
      const note = new Note();
      note.title = 'kept';
      await typed.save('notes', 'n1', note);
      expect((await typed.load<Note>('notes', 'n1'))?.title).toBe('kept');
      await store.put('notes', 'bad', 'not an envelope');
      expect(await code(typed.load('notes', 'bad'))).toBe('CORRUPT_STATE');
      expect(await code(typed.info('notes', 'bad'))).toBe('CORRUPT_STATE');
    });

    it('says when the stored state is compressed', async () => {
      const repo = new StateRepository(await open({ compression: 'gzip', compressAboveBytes: 100 }));
      const agent = new AgentStateModule('big');
      for (let i = 0; i < 50; i++)
        agent.addConversationMessage({ role: 'user', content: `message number ${i}` });
      const info = await repo.save('agents', 'big', agent);
      // A router's backends keep their own settings; only direct drivers are opened with gzip here.
      if (factory.name !== 'router') expect(info.compressed).toBe(true);
      expect((await repo.load('agents', 'big'))?.stateDict()).toEqual(agent.stateDict());
    });

    it('is what the agent and session managers store through', async () => {
      const repository = new StateRepository(await open());
      const agents = new AgentStateManager({ repository });
      agents.createAgent('a1').addConversationMessage({ role: 'user', content: 'hi' });
      await agents.saveAll();
      expect((await repository.info('agents', 'a1'))?.typeName).toBe('agentstate.agent');
      const sessions = new SessionManager({ repository });
      sessions.createSession('s1', { participants: ['p'] });
      await sessions.saveAll();
      expect((await repository.load('sessions', 's1', { type: SessionStateModule }))?.participants).toEqual([
        'p',
      ]);
      const again = new SessionManager({ repository });
      expect(await again.loadAll()).toBe(1);
    });
  });
});

describe('StateRepository over a CachedStore', () => {
  it('loads modules that can be changed, though the cache shares a frozen value', async () => {
    const repo = new StateRepository(createCachedStore(createMemoryStore()));
    const saved = new AgentStateModule('a1');
    saved.addConversationMessage({ role: 'user', content: 'hello' });
    await repo.save('agents', 'a1', saved);
    for (let read = 0; read < 2; read++) {
      const loaded = await repo.load('agents', 'a1', { type: AgentStateModule });
      loaded!.addConversationMessage({ role: 'assistant', content: 'hi' });
      expect(loaded!.conversation).toHaveLength(2);
      const target = new AgentStateModule('a1');
      await repo.load('agents', 'a1', { into: target });
      target.addConversationMessage({ role: 'assistant', content: 'again' });
      expect(target.conversation).toHaveLength(2);
    }
    const all = await repo.loadAll('agents', { type: AgentStateModule });
    all.get('a1')!.addConversationMessage({ role: 'user', content: 'more' });
    expect((await repo.load('agents', 'a1', { type: AgentStateModule }))!.conversation).toHaveLength(1);
    await repo.store.close();
  });
});
