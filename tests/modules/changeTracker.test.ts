import { describe, expect, it } from 'vitest';
import { diffStates, StateChangeTracker, StateModule } from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';

class Counter extends StateModule {
  n = 0;
  label = 'c';
  items: string[] = [];
  constructor() {
    super();
    this.registerState('n', { validate: (v) => typeof v === 'number' || 'must be a number' });
    this.registerState('label');
    this.registerState('items');
  }
}

describe('StateChangeTracker', () => {
  it('records assignments of registered modules with module, attribute, values and time', () => {
    const clock = new ManualClock();
    const tracker = new StateChangeTracker({ now: clock.now });
    const a = new Counter();
    tracker.register('a', a);
    clock.advance(10);
    a.n = 1;
    expect(tracker.history()).toEqual([
      { moduleId: 'a', attribute: 'n', oldValue: 0, newValue: 1, timestamp: clock.time, type: 'change' },
    ]);
  });

  it('keeps at most maxHistory changes, dropping the oldest', () => {
    const tracker = new StateChangeTracker({ maxHistory: 3 });
    const a = new Counter();
    tracker.register('a', a);
    for (let i = 1; i <= 10; i++) a.n = i;
    const history = tracker.history();
    expect(history).toHaveLength(3);
    expect(history.map((c) => c.newValue)).toEqual([8, 9, 10]);
  });

  it('filters history by module, attribute and limit', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    const b = new Counter();
    tracker.register('a', a);
    tracker.register('b', b);
    a.n = 1;
    b.n = 1;
    a.label = 'x';
    a.n = 2;
    a.n = 3;
    expect(tracker.history({ moduleId: 'a' })).toHaveLength(4);
    expect(tracker.history({ moduleId: 'a', attribute: 'n' }).map((c) => c.newValue)).toEqual([1, 2, 3]);
    expect(tracker.history({ moduleId: 'a', attribute: 'n', limit: 2 }).map((c) => c.newValue)).toEqual([
      2, 3,
    ]);
    expect(tracker.history({ attribute: 'label' })).toHaveLength(1);
    expect(tracker.history({ limit: 0 })).toEqual([]);
  });

  it('creates named snapshots and restores them, recording the restore', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    tracker.register('a', a);
    a.n = 5;
    a.items = ['x'];
    tracker.createSnapshot('a', 'five');
    a.n = 6;
    a.items.push('y');
    a.markChanged('items');
    tracker.restoreSnapshot('a', 'five');
    expect(a.n).toBe(5);
    expect(a.items).toEqual(['x']);
    expect(tracker.history({ moduleId: 'a' }).at(-1)).toMatchObject({ type: 'restore', newValue: 'five' });
    // The initial snapshot taken at registration.
    tracker.restoreSnapshot('a', 'initial');
    expect(a.n).toBe(0);
  });

  it('snapshots are copies, unaffected by later in-place changes', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    tracker.register('a', a, { initialSnapshot: false });
    a.items = ['one'];
    tracker.createSnapshot('a', 's');
    a.items.push('two');
    tracker.restoreSnapshot('a', 's');
    expect(a.items).toEqual(['one']);
  });

  it('generates snapshot names, lists them, bounds them per module and deletes them', () => {
    const tracker = new StateChangeTracker({ maxSnapshotsPerModule: 2 });
    const a = new Counter();
    tracker.register('a', a, { initialSnapshot: false });
    const first = tracker.createSnapshot('a');
    tracker.createSnapshot('a', 'second');
    tracker.createSnapshot('a', 'third');
    expect(tracker.snapshots('a').map((s) => s.name)).toEqual(['second', 'third']);
    expect(first).toMatch(/#\d+$/);
    expect(tracker.deleteSnapshot('a', 'second')).toBe(true);
    expect(tracker.deleteSnapshot('a', 'second')).toBe(false);
  });

  it('throws NOT_FOUND for unknown modules and snapshots, ALREADY_EXISTS for a taken id', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    tracker.register('a', a);
    expect(() => tracker.register('a', new Counter())).toThrow(
      expect.objectContaining({ code: 'ALREADY_EXISTS' }),
    );
    expect(() => tracker.createSnapshot('zz')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(() => tracker.restoreSnapshot('a', 'nope')).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  it('a restore whose snapshot no longer validates throws and changes nothing', () => {
    const limits = { max: 100 };
    class Bounded extends StateModule {
      n = 0;
      constructor() {
        super();
        this.registerState('n', {
          validate: (v) => (v as number) <= limits.max || `must be <= ${limits.max}`,
        });
      }
    }
    const tracker = new StateChangeTracker();
    const b = new Bounded();
    tracker.register('b', b);
    b.n = 50;
    tracker.createSnapshot('b', 'fifty');
    b.n = 5;
    limits.max = 10; // the rule got stricter since the snapshot was taken
    expect(() => tracker.restoreSnapshot('b', 'fifty')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    expect(b.n).toBe(5);
    expect(tracker.history({ moduleId: 'b' }).some((c) => c.type === 'restore')).toBe(false);
  });

  it('a register whose initial snapshot fails leaves the module untracked, so it can be registered again', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    a.label = (() => 'not storable') as unknown as string;
    expect(() => tracker.register('a', a)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(tracker.has('a')).toBe(false);
    a.n = 1;
    expect(tracker.history()).toEqual([]);
    a.label = 'c';
    tracker.register('a', a);
    expect(tracker.snapshots('a').map((s) => s.name)).toEqual(['initial']);
  });

  it('unregister stops recording', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    tracker.register('a', a);
    expect(tracker.unregister('a')).toBe(true);
    a.n = 1;
    expect(tracker.history()).toEqual([]);
    expect(tracker.unregister('a')).toBe(false);
  });

  it('diffs two snapshots, and a snapshot against the current state', () => {
    const tracker = new StateChangeTracker();
    const a = new Counter();
    tracker.register('a', a, { initialSnapshot: false });
    a.items = ['x', 'y'];
    tracker.createSnapshot('a', 'before');
    a.n = 2;
    a.items = ['x'];
    tracker.createSnapshot('a', 'after');
    expect(tracker.diff('a', 'before', 'after')).toEqual([
      { path: '$.n', kind: 'changed', before: 0, after: 2 },
      { path: '$.items[1]', kind: 'removed', before: 'y' },
    ]);
    a.label = 'new';
    expect(tracker.diff('a', 'after')).toEqual([
      { path: '$.label', kind: 'changed', before: 'c', after: 'new' },
    ]);
    expect(tracker.diff('a', 'after', 'after')).toEqual([]);
  });
});

describe('diffStates', () => {
  it('descends into plain objects and arrays, treats Dates and Maps as whole values', () => {
    const before = { a: { b: 1, gone: true }, when: new Date(0), m: new Map([['k', 1]]), list: [1] };
    const after = { a: { b: 2, added: 'x' }, when: new Date(1), m: new Map([['k', 1]]), list: [1, 2] };
    expect(diffStates(before, after, new StateModule().stateCodec())).toEqual([
      { path: '$.a.b', kind: 'changed', before: 1, after: 2 },
      { path: '$.a.gone', kind: 'removed', before: true },
      { path: '$.a.added', kind: 'added', after: 'x' },
      { path: '$.when', kind: 'changed', before: new Date(0), after: new Date(1) },
      { path: '$.list[1]', kind: 'added', after: 2 },
    ]);
  });

  it('reports no change for a Map or Set whose objects only list their fields in another order', () => {
    const codec = new StateModule().stateCodec();
    const before = { m: new Map([['prefs', { theme: 'dark', lang: 'en' }]]), s: new Set([{ a: 1, b: 2 }]) };
    const after = { m: new Map([['prefs', { lang: 'en', theme: 'dark' }]]), s: new Set([{ b: 2, a: 1 }]) };
    expect(diffStates(before, after, codec)).toEqual([]);
    after.m.set('prefs', { lang: 'fr', theme: 'dark' });
    expect(diffStates(before, after, codec)).toEqual([
      { path: '$.m', kind: 'changed', before: before.m, after: after.m },
    ]);
  });
});
