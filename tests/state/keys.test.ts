import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidInputError } from '../../src/errors.ts';
import {
  appendList,
  counter,
  defineStateKey,
  lastValue,
  mergeRecord,
  StateMap,
  StateStore,
} from '../../src/state/index.ts';

describe('defineStateKey', () => {
  it('applies defaults: run scope, exclusive merge, persistent, not retained, version 1', () => {
    const key = defineStateKey({ key: 'k', initial: () => 0, apply: (v, u: number) => v + u });
    expect(key).toMatchObject({
      key: 'k',
      scope: 'run',
      merge: 'exclusive',
      persistent: true,
      retainOnUninstall: false,
      version: 1,
    });
    expect(Object.isFrozen(key)).toBe(true);
  });

  it('refuses bad names, scopes, versions and missing functions with INVALID_INPUT', () => {
    const base = { initial: () => 0, apply: (v: number) => v };
    expect(() => defineStateKey({ ...base, key: '' })).toThrow(InvalidInputError);
    expect(() => defineStateKey({ ...base, key: 'a\0b' })).toThrow(/invalid/);
    expect(() => defineStateKey({ ...base, key: 'k', scope: 'forever' as 'run' })).toThrow(/scope/);
    expect(() => defineStateKey({ ...base, key: 'k', merge: 'any' as 'exclusive' })).toThrow(/merge/);
    expect(() => defineStateKey({ ...base, key: 'k', version: 1.5 })).toThrow(/version/);
    expect(() => defineStateKey({ ...base, key: 'k', version: 2 })).toThrow(/migrate/);
    expect(() => defineStateKey({ key: 'k', initial: () => 0 } as never)).toThrow(/apply/);
  });

  it('checks the initial value against the schema when the key is defined', () => {
    const error = (() => {
      try {
        defineStateKey({
          key: 'n',
          schema: z.number().min(1),
          initial: () => 0,
          apply: (v, u: number) => v + u,
        });
      } catch (e) {
        return e as InvalidInputError;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error?.details.key).toBe('n');
  });

  it('refuses an asynchronous schema at definition time (commits are synchronous)', () => {
    const asyncSchema = z.number().refine(async (n) => n >= 0);
    expect(() =>
      defineStateKey({ key: 'async', schema: asyncSchema, initial: () => 0, apply: (_v, u: number) => u }),
    ).toThrow(/asynchronously/);
  });

  it('refuses something that is not a Standard Schema', () => {
    expect(() =>
      defineStateKey({ key: 's', schema: {} as never, initial: () => 0, apply: (_v, u: number) => u }),
    ).toThrow(/Standard Schema/);
  });
});

describe('helper keys', () => {
  it('lastValue replaces, counter adds, appendList appends, mergeRecord merges', () => {
    const Mode = lastValue<'plan' | 'act'>({ key: 'mode', initial: () => 'plan' });
    const Steps = counter({ key: 'steps' });
    const Log = appendList<string>({ key: 'log' });
    const Vars = mergeRecord<number>({ key: 'vars' });
    const store = new StateStore({ keys: [Mode, Steps, Log, Vars] });
    store.commit(
      store
        .batch()
        .update(Mode, 'act')
        .update(Steps, 2)
        .update(Steps, 3)
        .update(Log, 'a')
        .update(Log, 'b')
        .update(Vars, { x: 1 })
        .update(Vars, { y: 2, x: 3 }),
    );
    expect(store.get(Mode)).toBe('act');
    expect(store.get(Steps)).toBe(5);
    expect(store.get(Log)).toEqual(['a', 'b']);
    expect(store.get(Vars)).toEqual({ x: 3, y: 2 });
  });

  it('have merge defaults suited to parallel work, and accept overrides', () => {
    expect(lastValue({ key: 'a', initial: () => 1 }).merge).toBe('exclusive');
    expect(counter({ key: 'b' }).merge).toBe('commutative');
    expect(appendList({ key: 'c' }).merge).toBe('commutative');
    expect(mergeRecord({ key: 'd' }).merge).toBe('exclusive');
    expect(mergeRecord({ key: 'e', merge: 'commutative', scope: 'thread' })).toMatchObject({
      merge: 'commutative',
      scope: 'thread',
    });
    expect(counter({ key: 'f', initial: 10 }).initial()).toBe(10);
  });

  it('mergeRecord stores a __proto__ field as a plain key, never touching prototypes', () => {
    const Vars = mergeRecord<unknown>({ key: 'vars' });
    const store = new StateStore({ keys: [Vars] });
    store.update(Vars, JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>);
    const value = store.get(Vars);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('StateMap', () => {
  it('is a typed container with get, set, has, delete and getOrInsertDefault', () => {
    const Count = counter({ key: 'count', initial: 7 });
    const map = new StateMap();
    expect(map.has(Count)).toBe(false);
    expect(map.get(Count)).toBeUndefined();
    expect(map.getOrInsertDefault(Count)).toBe(7);
    expect(map.has(Count)).toBe(true);
    map.set(Count, 9);
    expect(map.get(Count)).toBe(9);
    expect(map.getOrInsertDefault(Count)).toBe(9);
    expect(map.size).toBe(1);
    expect([...map.keys()]).toEqual(['count']);
    expect(map.delete(Count)).toBe(true);
    expect(map.delete(Count)).toBe(false);
    expect(map.size).toBe(0);
  });
});
