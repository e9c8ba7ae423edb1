import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  AlreadyExistsError,
  InvalidInputError,
  NotFoundError,
  RevisionConflictError,
  UnknownKeyError,
} from '../../src/errors.ts';
import {
  appendList,
  type CommitEvent,
  counter,
  defineStateKey,
  lastValue,
  MutationBatch,
  StateStore,
} from '../../src/state/index.ts';

const Count = counter({ key: 'count' });
const Messages = appendList<{ role: string; text: string }>({ key: 'messages', scope: 'thread' });
const Title = lastValue<string>({ key: 'title', initial: () => 'untitled', scope: 'thread' });

function newStore(): StateStore {
  return new StateStore({ keys: [Count, Messages, Title] });
}

describe('StateStore commits', () => {
  it('starts at revision 0 with initial values and moves up by one per commit', () => {
    const store = newStore();
    expect(store.revision).toBe(0);
    expect(store.get(Count)).toBe(0);
    expect(store.get(Title)).toBe('untitled');
    const batch = store.batch().update(Count, 1).update(Count, 2).update(Title, 'hello');
    expect(batch.baseRevision).toBe(0);
    expect(batch.size).toBe(3);
    expect(store.commit(batch)).toBe(1);
    expect(store.revision).toBe(1);
    expect(store.get(Count)).toBe(3);
    expect(store.get(Title)).toBe('hello');
    expect(store.update(Count, 10)).toBe(2);
    expect(store.get(Count)).toBe(13);
  });

  it('an empty batch changes nothing', () => {
    const store = newStore();
    const listener = vi.fn();
    store.onCommit(listener);
    expect(store.commit(store.batch())).toBe(0);
    expect(store.revision).toBe(0);
    expect(listener).not.toHaveBeenCalled();
  });

  it('refuses a batch from a stale revision with RevisionConflictError, changing nothing', () => {
    const store = newStore();
    const stale = store.batch().update(Count, 5);
    store.update(Count, 1);
    const error = (() => {
      try {
        store.commit(stale);
      } catch (e) {
        return e as RevisionConflictError;
      }
    })();
    expect(error).toBeInstanceOf(RevisionConflictError);
    expect(error?.code).toBe('REVISION_CONFLICT');
    expect(error?.details).toMatchObject({ expectedRevision: 0, actualRevision: 1 });
    expect(store.get(Count)).toBe(1);
    expect(store.revision).toBe(1);
  });

  it('refuses a batch started on another store, even at the same revision', () => {
    const threadA = newStore();
    const threadB = newStore();
    const fromA = threadA.batch().update(Title, 'for thread A');
    expect(() => threadB.commit(fromA)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(() => MutationBatch.mergeParallel(fromA, threadB.batch().update(Count, 1))).toThrow(
      expect.objectContaining({ code: 'BASE_REVISION_MISMATCH' }),
    );
    expect(threadB.get(Title)).toBe('untitled');
    expect(threadB.revision).toBe(0);
    expect(threadA.commit(fromA)).toBe(1);
  });

  it('a batch cannot be committed twice', () => {
    const store = newStore();
    const batch = store.batch().update(Count, 1);
    store.commit(batch);
    expect(() => store.commit(batch)).toThrow(RevisionConflictError);
    expect(store.get(Count)).toBe(1);
  });

  it('throws UnknownKeyError naming the key, when recording and when committing', () => {
    const store = newStore();
    const Other = counter({ key: 'other' });
    expect(() => store.batch().update(Other, 1)).toThrow(UnknownKeyError);
    expect(() => store.get(Other)).toThrow(/'other' is not installed/);
    // A batch made without the store's check still fails at commit, and applies nothing.
    const manual = new MutationBatch(0).update(Count, 1).update(Other, 1);
    expect(() => store.commit(manual)).toThrow(UnknownKeyError);
    expect(store.get(Count)).toBe(0);
    expect(store.revision).toBe(0);
  });

  it('a missing key (undefined from a typo or a bad import) is never taken for an installed one', () => {
    const store = newStore();
    const missing = undefined as unknown as typeof Count;
    expect(store.has(missing)).toBe(false);
    expect(store.snapshot().has(missing)).toBe(false);
    expect(() => store.get(missing)).toThrow(UnknownKeyError);
    expect(() => store.snapshot().get(missing)).toThrow(UnknownKeyError);
    expect(() => store.batch().update(missing, 1)).toThrow(UnknownKeyError);
    expect(() => store.commit(new MutationBatch(0).update(Count, 1).update(missing, 1))).toThrow(
      UnknownKeyError,
    );
    expect(() => store.commit(undefined as unknown as MutationBatch)).toThrow(InvalidInputError);
    expect(store.get(Count)).toBe(0);
    expect(store.revision).toBe(0);
  });

  it('refuses a different key object that reuses an installed name', () => {
    const store = newStore();
    const Impostor = counter({ key: 'count' });
    expect(() => store.get(Impostor)).toThrow(/another defineStateKey call/);
    expect(store.has(Impostor)).toBe(false);
    expect(store.has(Count)).toBe(true);
  });

  it('is all-or-nothing: a failing op leaves every value and the revision unchanged', () => {
    const Positive = defineStateKey({
      key: 'positive',
      schema: z.number().nonnegative(),
      initial: () => 0,
      apply: (v, u: number) => v + u,
    });
    const store = new StateStore({ keys: [Count, Positive] });
    const batch = store.batch().update(Count, 1).update(Positive, 2).update(Positive, -5);
    const error = (() => {
      try {
        store.commit(batch);
      } catch (e) {
        return e as InvalidInputError;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error?.details).toMatchObject({ key: 'positive', opIndex: 2 });
    expect(store.get(Count)).toBe(0);
    expect(store.get(Positive)).toBe(0);
    expect(store.revision).toBe(0);
  });

  it('stores what the schema returns (a zod object strips unknown fields)', () => {
    const Profile = lastValue({
      key: 'profile',
      schema: z.object({ name: z.string() }),
      initial: () => ({ name: 'anon' }),
    });
    const store = new StateStore({ keys: [Profile] });
    store.update(Profile, { name: 'ada', extra: 1 } as { name: string });
    expect(store.get(Profile)).toEqual({ name: 'ada' });
  });

  it('reports an apply that throws with the key, and a mutating apply with a hint', () => {
    const Broken = defineStateKey({
      key: 'broken',
      initial: () => 0,
      apply: (): number => {
        throw new Error('boom');
      },
    });
    const Mutating = defineStateKey({
      key: 'mutating',
      initial: (): number[] => [],
      apply: (list, item: number) => {
        list.push(item);
        return list;
      },
    });
    const store = new StateStore({ keys: [Broken, Mutating] });
    expect(() => store.update(Broken, 1)).toThrow(/apply of state key 'broken' threw at op 0: boom/);
    expect(() => store.update(Mutating, 1)).toThrow(/frozen/);
    expect(store.get(Mutating)).toEqual([]);
  });
});

describe('snapshots', () => {
  it('never change after later commits', () => {
    const store = newStore();
    store.update(Messages, { role: 'user', text: 'hi' });
    const before = store.snapshot();
    expect(before.revision).toBe(1);
    store.commit(store.batch().update(Messages, { role: 'assistant', text: 'hello' }).update(Count, 4));
    store.update(Title, 'chat');
    expect(before.get(Messages)).toEqual([{ role: 'user', text: 'hi' }]);
    expect(before.get(Count)).toBe(0);
    expect(before.get(Title)).toBe('untitled');
    expect(store.get(Messages)).toHaveLength(2);
    expect(store.snapshot().get(Count)).toBe(4);
  });

  it('hold frozen values, so a caller cannot change them either', () => {
    const store = newStore();
    store.update(Messages, { role: 'user', text: 'hi' });
    const snap = store.snapshot();
    const list = snap.get(Messages) as Array<{ role: string; text: string }>;
    expect(() => list.push({ role: 'x', text: 'y' })).toThrow(TypeError);
    expect(() => {
      list[0]!.text = 'changed';
    }).toThrow(TypeError);
    expect(store.get(Messages)[0]!.text).toBe('hi');
  });

  it('is the same object until the next change, and keeps keys uninstalled later', () => {
    const store = newStore();
    const Extra = counter({ key: 'extra' });
    store.install('plugin', [Extra]);
    const a = store.snapshot();
    expect(store.snapshot()).toBe(a);
    store.update(Extra, 2);
    const b = store.snapshot();
    expect(b).not.toBe(a);
    store.uninstall('plugin');
    expect(b.get(Extra)).toBe(2);
    expect(store.snapshot().has(Extra)).toBe(false);
    expect(() => store.snapshot().get(Extra)).toThrow(UnknownKeyError);
    expect(b.toStateMap().get(Extra)).toBe(2);
  });
});

describe('commit listeners', () => {
  it('receive previous and new revision, op count and the snapshot after the commit', () => {
    const store = newStore();
    const events: CommitEvent[] = [];
    const off = store.onCommit((event) => events.push(event));
    store.commit(store.batch().update(Count, 1).update(Title, 't'));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ previousRevision: 0, newRevision: 1, opCount: 2, cause: 'commit' });
    expect(events[0]!.snapshot.get(Count)).toBe(1);
    off();
    store.update(Count, 1);
    expect(events).toHaveLength(1);
  });

  it('a throwing listener does not undo the commit or stop other listeners', () => {
    const onListenerError = vi.fn();
    const store = new StateStore({ keys: [Count], onListenerError });
    const second = vi.fn();
    store.onCommit(() => {
      throw new Error('listener');
    });
    store.onCommit(second);
    expect(store.update(Count, 1)).toBe(1);
    expect(second).toHaveBeenCalledTimes(1);
    expect(onListenerError).toHaveBeenCalledTimes(1);
    expect(store.get(Count)).toBe(1);
  });

  it('a throwing listener is reported through onError with the revision', () => {
    const onError = vi.fn();
    const store = new StateStore({ keys: [Count], onError });
    store.onCommit(() => {
      throw new Error('listener');
    });
    store.update(Count, 1);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'listener' }), {
      source: 'StateStore commit listener',
      details: { revision: 1 },
    });
  });
});

describe('scopes', () => {
  it('startRun resets run-scoped keys and keeps thread-scoped ones', () => {
    const store = newStore();
    const events: CommitEvent[] = [];
    store.onCommit((e) => events.push(e));
    store.commit(
      store.batch().update(Count, 3).update(Messages, { role: 'user', text: 'a' }).update(Title, 'x'),
    );
    expect(store.startRun()).toBe(2);
    expect(store.get(Count)).toBe(0);
    expect(store.get(Messages)).toHaveLength(1);
    expect(store.get(Title)).toBe('x');
    expect(events[1]).toMatchObject({ cause: 'startRun', previousRevision: 1, newRevision: 2, opCount: 1 });
  });

  it('startRun with only thread-scoped keys changes nothing', () => {
    const store = new StateStore({ keys: [Title] });
    expect(store.startRun()).toBe(0);
  });
});

describe('plugins', () => {
  const ToolCalls = counter({ key: 'tool.calls' });
  const ToolCache = mergeRecordKey();
  function mergeRecordKey() {
    return lastValue<string>({ key: 'tool.cache', initial: () => '', retainOnUninstall: true });
  }

  it('install adds a group of keys owned by a plugin; uninstall removes them except retained ones', () => {
    const store = newStore();
    store.install('tools', [ToolCalls, ToolCache]);
    expect(store.plugins()).toEqual({
      core: ['count', 'messages', 'title'],
      tools: ['tool.calls', 'tool.cache'],
    });
    store.commit(store.batch().update(ToolCalls, 2).update(ToolCache, 'warm'));
    const revision = store.revision;
    expect(store.uninstall('tools')).toEqual({ removed: ['tool.calls'], retained: ['tool.cache'] });
    expect(store.revision).toBe(revision);
    expect(store.has(ToolCalls)).toBe(false);
    expect(store.get(ToolCache)).toBe('warm');
    expect(store.plugins()).toEqual({ core: ['count', 'messages', 'title'] });
    // Reinstalling adopts the retained value and starts the removed key afresh.
    store.install('tools', [ToolCalls, ToolCache]);
    expect(store.get(ToolCache)).toBe('warm');
    expect(store.get(ToolCalls)).toBe(0);
  });

  it('refuses a name installed by another plugin, a duplicate in the list, and an unknown plugin', () => {
    const store = newStore();
    expect(() => store.install('other', [counter({ key: 'count' })])).toThrow(AlreadyExistsError);
    expect(() => store.install('other', [ToolCalls, ToolCalls])).toThrow(/listed twice/);
    expect(store.has(ToolCalls)).toBe(false);
    expect(() => store.uninstall('nobody')).toThrow(NotFoundError);
    expect(() => store.install('', [ToolCalls])).toThrow(InvalidInputError);
  });

  it('a batch recorded before an uninstall fails at commit with UnknownKeyError', () => {
    const store = newStore();
    store.install('tools', [ToolCalls]);
    const batch = store.batch().update(ToolCalls, 1);
    store.uninstall('tools');
    expect(() => store.commit(batch)).toThrow(UnknownKeyError);
  });
});

describe('values the store cannot freeze or check synchronously', () => {
  it('refuses a schema that turns asynchronous for some values, leaving the store unchanged', () => {
    const sometimesAsync = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (value: unknown) =>
          (value as number) > 10 ? Promise.resolve({ value: value as number }) : { value: value as number },
      },
    };
    const Level = defineStateKey({
      key: 'level',
      schema: sometimesAsync,
      initial: () => 0,
      apply: (_v, u: number) => u,
    });
    const store = new StateStore({ keys: [Level] });
    store.update(Level, 5);
    expect(() => store.update(Level, 50)).toThrow(/asynchronously/);
    expect(store.get(Level)).toBe(5);
    expect(store.revision).toBe(1);
  });

  it('accepts a cyclic value in a non-persistent key', () => {
    const Graph = lastValue<{ self?: unknown }>({ key: 'graph', initial: () => ({}), persistent: false });
    const store = new StateStore({ keys: [Graph] });
    const node: { self?: unknown } = {};
    node.self = node;
    store.update(Graph, node);
    expect(store.get(Graph).self).toBe(store.get(Graph));
    expect(store.exportPersisted().extensions).toEqual({});
  });

  it('re-encodes values JavaScript cannot freeze (a Date) on every export', () => {
    const Seen = lastValue<Date>({ key: 'seen', initial: () => new Date(0) });
    const store = new StateStore({ keys: [Seen] });
    store.update(Seen, new Date(1000));
    expect(store.exportPersisted().extensions.seen).toEqual({ $t: 'Date', v: '1970-01-01T00:00:01.000Z' });
    // Object.freeze does not stop setTime; the export must still tell the truth.
    store.get(Seen).setTime(2000);
    expect(store.exportPersisted().extensions.seen).toEqual({ $t: 'Date', v: '1970-01-01T00:00:02.000Z' });
  });

  it('exports the current values after each commit, including values changed in place in an unfrozen store', () => {
    const Items = defineStateKey({
      key: 'items',
      initial: (): number[] => [],
      apply: (list, item: number) => {
        list.push(item);
        return list;
      },
    });
    const store = new StateStore({ keys: [Items, Count], freezeValues: false });
    store.update(Items, 1);
    expect(store.exportPersisted().extensions.items).toEqual([1]);
    store.update(Items, 2);
    expect(store.exportPersisted().extensions.items).toEqual([1, 2]);

    const frozen = newStore();
    frozen.update(Messages, { role: 'user', text: 'a' });
    const first = frozen.exportPersisted();
    frozen.update(Count, 1);
    const second = frozen.exportPersisted();
    expect(second.extensions.count).toBe(1);
    expect(second.extensions.messages).toEqual([{ role: 'user', text: 'a' }]);
    // Shared between exports, so frozen.
    expect(Object.isFrozen(first.extensions.messages)).toBe(true);
  });
});

describe('exporting a list that only grew', () => {
  it('encodes only the new items: the saved items keep their encoded objects, and the export is right', () => {
    const Log = appendList<{ text: string; n: bigint }>({ key: 'grow.log', scope: 'thread' });
    const state = new StateStore({ keys: [Log] });
    state.update(Log, { text: 'first', n: 1n });
    const before = state.exportPersisted().extensions['grow.log'] as unknown[];
    state.update(Log, { text: 'second', n: 2n });
    const after = state.exportPersisted().extensions['grow.log'] as unknown[];
    expect(after).toHaveLength(2);
    expect(after[0]).toBe(before[0]);
    expect(Object.isFrozen(after)).toBe(true);
    const copy = new StateStore({ keys: [Log] });
    copy.restore(state.exportPersisted());
    expect(copy.get(Log)).toEqual([
      { text: 'first', n: 1n },
      { text: 'second', n: 2n },
    ]);
  });
});
