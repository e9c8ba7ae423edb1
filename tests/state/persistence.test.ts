import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CorruptStateError, InvalidInputError, RevisionConflictError } from '../../src/errors.ts';
import {
  appendList,
  counter,
  defineStateKey,
  lastValue,
  type PersistedState,
  StateStore,
} from '../../src/state/index.ts';

const Steps = counter({ key: 'steps' });
const History = appendList<{ at: Date; text: string }>({ key: 'history', scope: 'thread' });
const Scratch = lastValue<string>({ key: 'scratch', initial: () => '', persistent: false });
const Tags = lastValue<Set<string>>({ key: 'tags', initial: () => new Set(), scope: 'thread' });

function newStore(): StateStore {
  return new StateStore({ keys: [Steps, History, Scratch, Tags] });
}

function errorOf(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('exportPersisted / restore', () => {
  it('round-trips persistent keys through the codec, as JSON, with the revision', () => {
    const store = newStore();
    const at = new Date('2026-01-02T03:04:05.000Z');
    store.commit(
      store
        .batch()
        .update(Steps, 4)
        .update(History, { at, text: 'hi' })
        .update(Scratch, 'temp')
        .update(Tags, new Set(['a', 'b'])),
    );
    const persisted = store.exportPersisted();
    expect(persisted.revision).toBe(1);
    expect(Object.keys(persisted.extensions).sort()).toEqual(['history', 'steps', 'tags']);
    expect(persisted.versions).toBeUndefined();
    const json = JSON.parse(JSON.stringify(persisted)) as PersistedState;

    const other = newStore();
    other.update(Scratch, 'mine');
    const report = other.restore(json);
    expect(report).toEqual({
      revision: 1,
      restored: ['steps', 'history', 'tags'],
      reset: [],
      unknownKeys: [],
    });
    expect(other.revision).toBe(1);
    expect(other.get(Steps)).toBe(4);
    expect(other.get(History)[0]!.at).toEqual(at);
    expect(other.get(Tags)).toEqual(new Set(['a', 'b']));
    // Non-persistent keys keep their value.
    expect(other.get(Scratch)).toBe('mine');
  });

  it('resets persistent keys absent from the data to their initial value', () => {
    const store = newStore();
    store.update(Steps, 3);
    const report = store.restore({ revision: 7, extensions: {} });
    expect(report.reset.sort()).toEqual(['history', 'steps', 'tags']);
    expect(store.get(Steps)).toBe(0);
    expect(store.revision).toBe(7);
  });

  it('is all-or-nothing: a value that fails to decode leaves the store unchanged and names the key', () => {
    const store = newStore();
    store.update(Steps, 2);
    const error = errorOf(() =>
      store.restore({ revision: 9, extensions: { steps: 5, history: { $t: 'no-such-type', v: 1 } } }),
    );
    expect(error).toBeInstanceOf(CorruptStateError);
    expect(error.details).toMatchObject({ key: 'history' });
    expect(store.get(Steps)).toBe(2);
    expect(store.revision).toBe(1);
  });

  it('is all-or-nothing: a value its schema refuses leaves the store unchanged', () => {
    const Level = defineStateKey({
      key: 'level',
      schema: z.number().int().min(0).max(10),
      initial: () => 0,
      apply: (_v, u: number) => u,
    });
    const store = new StateStore({ keys: [Steps, Level] });
    store.update(Level, 3);
    const error = errorOf(() => store.restore({ revision: 5, extensions: { steps: 1, level: 99 } }));
    expect(error).toBeInstanceOf(CorruptStateError);
    expect(error.details).toMatchObject({ key: 'level' });
    expect(error.message).toMatch(/schema/);
    expect(store.get(Level)).toBe(3);
    expect(store.get(Steps)).toBe(0);
  });

  it('refuses data that is not a persisted state', () => {
    const store = newStore();
    expect(() => store.restore(null as never)).toThrow(InvalidInputError);
    expect(() => store.restore({ revision: -1, extensions: {} })).toThrow(/revision/);
    expect(() => store.restore({ revision: 1, extensions: [] as never })).toThrow(/extensions/);
    expect(() => store.restore({ revision: 1, extensions: {}, versions: { steps: 0 } })).toThrow(/version/);
  });

  it('keeps unknown keys aside, reports them, exports them again and hands them to a later install', () => {
    const Plugin = lastValue<{ mode: string }>({ key: 'plugin.settings', initial: () => ({ mode: 'off' }) });
    const writer = new StateStore({ keys: [Steps, Plugin] });
    writer.commit(writer.batch().update(Steps, 1).update(Plugin, { mode: 'on' }));
    const saved = writer.exportPersisted();

    const reader = new StateStore({ keys: [Steps] });
    const report = reader.restore(saved);
    expect(report.unknownKeys).toEqual(['plugin.settings']);
    expect(reader.keptAside()).toEqual({ 'plugin.settings': { value: { mode: 'on' }, version: 1 } });
    // Saving again does not drop the data of the plugin this process does not have.
    expect(reader.exportPersisted().extensions['plugin.settings']).toEqual({ mode: 'on' });
    reader.install('plugin', [Plugin]);
    expect(reader.get(Plugin)).toEqual({ mode: 'on' });
    expect(reader.keptAside()).toEqual({});
  });

  it('keeps an unknown key named __proto__ as a plain key', () => {
    const store = newStore();
    const persisted = JSON.parse(
      '{"revision":2,"extensions":{"__proto__":{"x":1},"steps":3}}',
    ) as PersistedState;
    expect(store.restore(persisted).unknownKeys).toEqual(['__proto__']);
    const exported = store.exportPersisted();
    expect(Object.hasOwn(exported.extensions, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(exported.extensions)).toBe(Object.prototype);
    expect(JSON.stringify(exported.extensions)).toContain('"__proto__":{"x":1}');
  });

  it('an install whose kept-aside value fails its schema throws and installs nothing', () => {
    const Strict = defineStateKey({
      key: 'strict',
      schema: z.string(),
      initial: () => '',
      apply: (_v, u: string) => u,
    });
    const store = newStore();
    store.restore({ revision: 1, extensions: { strict: 42 } });
    expect(() => store.install('p', [Strict])).toThrow(CorruptStateError);
    expect(store.has(Strict)).toBe(false);
    expect(store.keptAside()).toEqual({ strict: { value: 42, version: 1 } });
  });

  it('refuses a batch started before a restore, even at the same revision number', () => {
    const store = newStore();
    const persisted = store.exportPersisted();
    const batch = store.batch().update(Steps, 1);
    store.restore(persisted);
    expect(store.revision).toBe(0);
    expect(() => store.commit(batch)).toThrow(RevisionConflictError);
  });

  it('notifies listeners of a restore', () => {
    const store = newStore();
    const causes: string[] = [];
    store.onCommit((e) => causes.push(`${e.cause}:${e.previousRevision}->${e.newRevision}`));
    store.restore({ revision: 4, extensions: { steps: 2 } });
    expect(causes).toEqual(['restore:0->4']);
  });
});

describe('versions and migrations', () => {
  const NameV1 = lastValue<string>({ key: 'name', initial: () => '' });
  const NameV2 = defineStateKey({
    key: 'name',
    version: 2,
    schema: z.object({ first: z.string(), last: z.string() }),
    initial: () => ({ first: '', last: '' }),
    apply: (_v, u: { first: string; last: string }) => u,
    migrate: (old, fromVersion) => {
      if (fromVersion !== 1 || typeof old !== 'string') throw new Error(`cannot migrate from ${fromVersion}`);
      const [first = '', last = ''] = old.split(' ');
      return { first, last };
    },
  });

  it('migrates data persisted at an older version and records the version on export', () => {
    const old = new StateStore({ keys: [NameV1] });
    old.update(NameV1, 'Ada Lovelace');
    const saved = old.exportPersisted();
    const store = new StateStore({ keys: [NameV2] });
    store.restore(saved);
    expect(store.get(NameV2)).toEqual({ first: 'Ada', last: 'Lovelace' });
    expect(store.exportPersisted().versions).toEqual({ name: 2 });
  });

  it('refuses data from a newer version, and a failing migration, naming the key', () => {
    const store = new StateStore({ keys: [NameV1] });
    const newer = errorOf(() =>
      store.restore({ revision: 1, extensions: { name: { first: 'a', last: 'b' } }, versions: { name: 2 } }),
    );
    expect(newer).toBeInstanceOf(CorruptStateError);
    expect(newer.details).toMatchObject({ key: 'name', persistedVersion: 2, version: 1 });
    const v2 = new StateStore({ keys: [NameV2] });
    const failed = errorOf(() => v2.restore({ revision: 1, extensions: { name: 42 } }));
    expect(failed).toBeInstanceOf(CorruptStateError);
    expect(failed.message).toMatch(/migration of state key 'name' from version 1 to 2 failed/);
  });
});
