import { describe, expect, it } from 'vitest';
import {
  AGENT_MODULE_TYPE,
  AgentStateModule,
  ModuleTypeRegistry,
  moduleTypes,
  registerModuleType,
  SessionStateModule,
  StateModule,
} from '../../src/index.ts';

class Note extends StateModule {
  title = '';
  body = '';
  constructor() {
    super();
    this.registerState('title');
    this.registerState('body');
  }
}

describe('module type registry', () => {
  it('saves a module as { type, version, state } and loads it back as the registered class', () => {
    const types = new ModuleTypeRegistry().register('test.note', Note, { version: 1 });
    const note = new Note();
    note.title = 't';
    const envelope = types.toEnvelope(note);
    expect(envelope).toEqual({ type: 'test.note', version: 1, state: { title: 't', body: '' } });
    const loaded = types.fromEnvelope(envelope);
    expect(loaded).toBeInstanceOf(Note);
    expect((loaded as Note).title).toBe('t');
  });

  it('refuses to save an unregistered class, and to load an unregistered name (nothing is resolved from data)', () => {
    const types = new ModuleTypeRegistry({ builtins: false });
    expect(() => types.toEnvelope(new Note())).toThrow(expect.objectContaining({ code: 'UNKNOWN_TYPE' }));
    expect(() => types.fromEnvelope({ type: 'Note', version: 1, state: {} })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_TYPE', details: { type: 'Note' } }),
    );
    expect(() => types.fromEnvelope({ type: 'constructor', version: 1, state: {} })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_TYPE' }),
    );
    expect(() => types.fromEnvelope({ type: '__proto__', version: 1, state: {} })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_TYPE' }),
    );
  });

  it('refuses a malformed envelope as corrupt', () => {
    const types = new ModuleTypeRegistry();
    for (const bad of [
      null,
      'x',
      { type: 'a' },
      { type: 'a', version: 0, state: {} },
      { type: 'a', version: 1, state: [] },
    ]) {
      expect(() => types.fromEnvelope(bad)).toThrow(expect.objectContaining({ code: 'CORRUPT_STATE' }));
    }
  });

  it('migrates older versions with migrate(state, fromVersion)', () => {
    class NoteV3 extends StateModule {
      title = '';
      text = '';
      tags: string[] = [];
      constructor() {
        super();
        this.registerState('title');
        this.registerState('text');
        this.registerState('tags');
      }
    }
    const seen: number[] = [];
    const types = new ModuleTypeRegistry().register('test.note', NoteV3, {
      version: 3,
      migrate: (state, from) => {
        seen.push(from);
        let s = state;
        if (from < 2) s = { title: s.title, text: s.body };
        if (from < 3) s = { ...s, tags: [] };
        return s;
      },
    });
    const v1 = types.fromEnvelope<NoteV3>({
      type: 'test.note',
      version: 1,
      state: { title: 'a', body: 'b' },
    });
    expect(v1.text).toBe('b');
    expect(v1.tags).toEqual([]);
    const v2 = types.fromEnvelope<NoteV3>({
      type: 'test.note',
      version: 2,
      state: { title: 'a', text: 'c' },
    });
    expect(v2.text).toBe('c');
    expect(seen).toEqual([1, 2]);
  });

  it('refuses a newer version, and an older one without migrate', () => {
    const types = new ModuleTypeRegistry().register('test.note', Note, { version: 2 });
    expect(() => types.fromEnvelope({ type: 'test.note', version: 3, state: {} })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_TYPE', details: expect.objectContaining({ version: 3 }) }),
    );
    expect(() =>
      types.fromEnvelope({ type: 'test.note', version: 1, state: { title: '', body: '' } }),
    ).toThrow(/no migrate function/);
  });

  it('a migration that throws is reported with the type and versions', () => {
    const types = new ModuleTypeRegistry().register('test.note', Note, {
      version: 2,
      migrate: () => {
        throw new Error('cannot');
      },
    });
    expect(() => types.fromEnvelope({ type: 'test.note', version: 1, state: {} })).toThrow(
      /from version 1 to 2 failed: cannot/,
    );
  });

  it('checks the expected class', () => {
    const types = new ModuleTypeRegistry().register('test.note', Note);
    expect(() => types.fromEnvelope(types.toEnvelope(new Note()), { expected: AgentStateModule })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_TYPE' }),
    );
  });

  it('refuses duplicate names and classes, and bad versions', () => {
    const types = new ModuleTypeRegistry().register('test.note', Note);
    expect(() => types.register('test.note', Note)).toThrow(
      expect.objectContaining({ code: 'ALREADY_EXISTS' }),
    );
    expect(() => types.register('other', Note)).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
    expect(() => new ModuleTypeRegistry().register('v', Note, { version: 1.5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });

  it('the default registry knows the built-in types and takes registrations through registerModuleType', () => {
    expect(moduleTypes.typeOf(new AgentStateModule('a'))).toEqual({ type: AGENT_MODULE_TYPE, version: 1 });
    expect(moduleTypes.typeOf(new SessionStateModule('s')).type).toBe('agentstate.session');
    class Unique extends StateModule {}
    registerModuleType('test.unique-default', Unique, { version: 4 });
    expect(moduleTypes.typeOf(new Unique())).toEqual({ type: 'test.unique-default', version: 4 });
  });

  it('a class that cannot be built without arguments and has no create() gets a clear error', () => {
    class Needy extends StateModule {
      constructor(name: string) {
        super();
        if (!name) throw new Error('name required');
      }
    }
    const types = new ModuleTypeRegistry().register('test.needy', Needy);
    expect(() => types.fromEnvelope({ type: 'test.needy', version: 1, state: {} })).toThrow(
      /create: \(\) => new Needy/,
    );
  });

  it('a module with a constructor argument loads through create()', () => {
    class Named extends StateModule {
      name: string;
      constructor(name: string) {
        super();
        this.name = name;
        this.registerState('name');
      }
    }
    const types = new ModuleTypeRegistry().register('test.named', Named, { create: () => new Named('?') });
    const loaded = types.fromEnvelope<Named>(types.toEnvelope(new Named('bob')));
    expect(loaded.name).toBe('bob');
  });
});
