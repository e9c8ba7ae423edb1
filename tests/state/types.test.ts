// Compile-time checks of the key type inference: `npx tsc --noEmit` (part of `npm test`) fails if an
// `expectTypeOf` assertion is wrong or a `@ts-expect-error` line stops being an error.
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  appendList,
  counter,
  defineStateKey,
  lastValue,
  type MutationBatch,
  mergeRecord,
  type Snapshot,
  type StateKey,
  StateMap,
  StateStore,
  type StateUpdate,
  type StateValue,
} from '../../src/index.ts';

const Counter = defineStateKey({
  key: 'counter',
  initial: () => 0,
  apply: (value, update: number) => value + update,
});
const Todos = defineStateKey({
  key: 'todos',
  scope: 'thread',
  initial: (): Array<{ id: string; done: boolean }> => [],
  apply: (list, update: { add: string } | { complete: string }) =>
    'add' in update
      ? [...list, { id: update.add, done: false }]
      : list.map((t) => (t.id === update.complete ? { ...t, done: true } : t)),
});
const Replace = defineStateKey({ key: 'replace', initial: () => 'a', apply: (_v, u) => u });
const Profile = defineStateKey({
  key: 'profile',
  schema: z.object({ name: z.string(), age: z.number() }),
  initial: () => ({ name: '', age: 0 }),
  apply: (value, update: Partial<{ name: string; age: number }>) => ({ ...value, ...update }),
});

describe('state key type inference', () => {
  it('infers Value from initial and Update from apply', () => {
    expectTypeOf(Counter).toEqualTypeOf<StateKey<number, number>>();
    expectTypeOf<StateValue<typeof Counter>>().toEqualTypeOf<number>();
    expectTypeOf<StateUpdate<typeof Todos>>().toEqualTypeOf<{ add: string } | { complete: string }>();
    expectTypeOf<StateValue<typeof Todos>>().toEqualTypeOf<Array<{ id: string; done: boolean }>>();
    // Without an annotation on the update, Update defaults to Value.
    expectTypeOf<StateUpdate<typeof Replace>>().toEqualTypeOf<string>();
    expectTypeOf<StateValue<typeof Profile>>().toEqualTypeOf<{ name: string; age: number }>();
  });

  it('types the helpers', () => {
    expectTypeOf(counter({ key: 'c' })).toEqualTypeOf<StateKey<number, number>>();
    expectTypeOf(lastValue<'a' | 'b'>({ key: 'l', initial: () => 'a' })).toEqualTypeOf<
      StateKey<'a' | 'b', 'a' | 'b'>
    >();
    expectTypeOf(appendList<string>({ key: 'a' })).toEqualTypeOf<StateKey<readonly string[], string>>();
    expectTypeOf(mergeRecord<number>({ key: 'm' })).toEqualTypeOf<
      StateKey<Readonly<Record<string, number>>, Readonly<Record<string, number>>>
    >();
  });

  it('reads typed values from the store, snapshots and maps without casts', () => {
    const store = new StateStore({ keys: [Counter, Todos, Replace, Profile] });
    expectTypeOf(store.get(Counter)).toEqualTypeOf<number>();
    expectTypeOf(store.get(Todos)).toEqualTypeOf<Array<{ id: string; done: boolean }>>();
    expectTypeOf(store.snapshot()).toEqualTypeOf<Snapshot>();
    expectTypeOf(store.snapshot().get(Profile).name).toEqualTypeOf<string>();
    expectTypeOf(new StateMap().get(Counter)).toEqualTypeOf<number | undefined>();
    expectTypeOf(new StateMap().getOrInsertDefault(Counter)).toEqualTypeOf<number>();
    expectTypeOf(store.batch()).toEqualTypeOf<MutationBatch>();
  });

  it('refuses updates of the wrong type at compile time', () => {
    // Never called: these lines only have to compile (or, with @ts-expect-error, fail to).
    const compileOnly = () => {
      const store = new StateStore({ keys: [Counter, Todos, Replace, Profile] });
      const batch = store.batch();
      batch.update(Counter, 1).update(Todos, { add: 'x' }).update(Profile, { age: 3 }).update(Replace, 'b');
      // @ts-expect-error a counter takes a number
      batch.update(Counter, 'one');
      // @ts-expect-error not a todo update
      batch.update(Todos, { remove: 'x' });
      // @ts-expect-error age is a number
      batch.update(Profile, { age: 'old' });
      // @ts-expect-error the update type is fixed by the key, not widened by the argument
      store.update(Replace, 3);
      // @ts-expect-error a StateMap value must be the key's Value
      new StateMap().set(Counter, 'x');
      // @ts-expect-error apply must return the value type
      defineStateKey({ key: 'bad', initial: () => 0, apply: (_v, u: string) => u });
      // @ts-expect-error the schema must describe the value type
      defineStateKey({ key: 'bad2', schema: z.string(), initial: () => 0, apply: (v, u: number) => v + u });
    };
    expectTypeOf(compileOnly).toBeFunction();
  });
});
