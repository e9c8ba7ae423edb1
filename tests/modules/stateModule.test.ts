import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { Codec, StateModule } from '../../src/index.ts';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';

class Leaf extends StateModule {
  value = 1;
  tags = new Set<string>(['a']);
  constructor() {
    super();
    this.registerState('value', { validate: (v) => (typeof v === 'number' && v >= 0) || 'must be >= 0' });
    this.registerState('tags');
  }
}

class Middle extends StateModule {
  leaf = new Leaf();
  name = 'middle';
  constructor() {
    super();
    this.registerState('name');
  }
}

class Root extends StateModule {
  count = 0;
  when = new Date(0);
  middle = new Middle();
  constructor() {
    super();
    this.registerState('count', { validate: (v) => Number.isInteger(v) || 'must be an integer' });
    this.registerState<Date>('when', {
      toJSON: (d) => d.toISOString(),
      fromJSON: (s) => new Date(s as string),
    });
  }
}

describe('StateModule', () => {
  it('works with class fields set before registerState and turns registered attributes into accessors', () => {
    const root = new Root();
    expect(root.count).toBe(0);
    root.count = 5;
    expect(root.count).toBe(5);
    const descriptor = Object.getOwnPropertyDescriptor(root, 'count');
    expect(typeof descriptor?.get).toBe('function');
    expect(root.registeredAttributes()).toEqual(['count', 'when']);
  });

  it('encodedStateDict is the codec encoding of stateDict, detached from the live values', () => {
    const root = new Root();
    root.middle.leaf.value = 7;
    const encoded = root.encodedStateDict();
    expect(encoded).toEqual(root.stateCodec().encode(root.stateDict()));
    root.middle.leaf.tags.add('b');
    expect(root.stateCodec().decode(encoded)).toEqual({
      middle: { leaf: { value: 7, tags: new Set(['a']) }, name: 'middle' },
      count: 0,
      when: '1970-01-01T00:00:00.000Z',
    });
  });

  it('stateDict puts nested modules first (at any depth), then registered attributes', () => {
    const root = new Root();
    root.middle.leaf.value = 7;
    const dict = root.stateDict();
    expect(Object.keys(dict)).toEqual(['middle', 'count', 'when']);
    expect(dict).toEqual({
      middle: { leaf: { value: 7, tags: new Set(['a']) }, name: 'middle' },
      count: 0,
      when: '1970-01-01T00:00:00.000Z',
    });
  });

  it('stateDict returns a detached copy', () => {
    const root = new Root();
    const dict = root.stateDict() as { middle: { leaf: { tags: Set<string> } } };
    dict.middle.leaf.tags.add('changed');
    root.middle.leaf.tags.add('live');
    expect(root.middle.leaf.tags.has('changed')).toBe(false);
    expect(dict.middle.leaf.tags.has('live')).toBe(false);
  });

  it('picks up a nested module assigned after construction', () => {
    const root = new Root() as Root & { extra?: Leaf };
    root.extra = new Leaf();
    expect(Object.keys(root.stateDict())).toEqual(['middle', 'extra', 'count', 'when']);
  });

  it('round-trips through loadStateDict, including custom fromJSON', () => {
    const a = new Root();
    a.count = 3;
    a.when = new Date(1000);
    a.middle.name = 'm2';
    a.middle.leaf.value = 9;
    a.middle.leaf.tags = new Set(['x', 'y']);
    const b = new Root();
    b.loadStateDict(a.stateDict());
    expect(b.count).toBe(3);
    expect(b.when).toEqual(new Date(1000));
    expect(b.middle.name).toBe('m2');
    expect(b.middle.leaf.value).toBe(9);
    expect(b.middle.leaf.tags).toEqual(new Set(['x', 'y']));
  });

  it('loaded values are copies of the given data', () => {
    const data = new Root().stateDict() as { middle: { leaf: { tags: Set<string> } } };
    const b = new Root();
    b.loadStateDict(data);
    data.middle.leaf.tags.add('later');
    expect(b.middle.leaf.tags.has('later')).toBe(false);
  });

  it('with copy: false the given values become live as they are (for freshly decoded data)', () => {
    const data = new Root().stateDict() as { middle: { leaf: { tags: Set<string> } } };
    const b = new Root();
    b.loadStateDict(data, { copy: false });
    expect(b.middle.leaf.tags).toBe(data.middle.leaf.tags);
  });

  it('strict load refuses a missing key at a nested level, naming the path', () => {
    const data = new Root().stateDict() as { middle: { leaf: Record<string, unknown> } };
    delete data.middle.leaf.tags;
    const target = new Root();
    expect(() => target.loadStateDict(data)).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        details: { path: '$.middle.leaf', missing: ['tags'] },
      }),
    );
  });

  it('strict load refuses an unexpected key at a nested level, naming the path', () => {
    const data = new Root().stateDict() as { middle: { leaf: Record<string, unknown> } };
    data.middle.leaf.surprise = true;
    expect(() => new Root().loadStateDict(data)).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_KEY',
        details: { path: '$.middle.leaf', unexpected: ['surprise'] },
      }),
    );
  });

  it('strict load refuses a missing nested module', () => {
    const data = new Root().stateDict();
    delete data.middle;
    expect(() => new Root().loadStateDict(data)).toThrow(
      expect.objectContaining({ details: { path: '$', missing: ['middle'] } }),
    );
  });

  it('non-strict load keeps current values for missing keys and ignores unexpected ones, at every level', () => {
    const target = new Root();
    target.middle.leaf.value = 42;
    target.loadStateDict({ count: 8, middle: { leaf: { other: 1 }, nope: 2 }, extra: 3 }, { strict: false });
    expect(target.count).toBe(8);
    expect(target.middle.leaf.value).toBe(42);
    expect(target.middle.name).toBe('middle');
  });

  it('a failed load changes nothing, even when the failure is deep and late', () => {
    const source = new Root();
    source.count = 11;
    source.middle.name = 'changed';
    const data = source.stateDict() as { middle: { leaf: { value: number } } };
    data.middle.leaf.value = -1; // refused by the leaf's validator
    const target = new Root();
    const listener = vi.fn();
    target.onStateChange('*', listener);
    expect(() => target.loadStateDict(data)).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        details: expect.objectContaining({ path: '$.middle.leaf.value' }),
      }),
    );
    expect(target.count).toBe(0);
    expect(target.middle.name).toBe('middle');
    expect(listener).not.toHaveBeenCalled();
  });

  it('refuses non-object state', () => {
    expect(() => new Root().loadStateDict([])).toThrow(expect.objectContaining({ details: { path: '$' } }));
    expect(() => new Root().loadStateDict({ ...new Root().stateDict(), middle: 'x' })).toThrow(
      expect.objectContaining({ details: { path: '$.middle' } }),
    );
  });

  it('fromJSON that throws is reported with the path and changes nothing', () => {
    class Throwing extends StateModule {
      x = 1;
      constructor() {
        super();
        this.registerState('x', {
          fromJSON: (v) => {
            if (typeof v !== 'number') throw new Error('not a number');
            return v;
          },
        });
      }
    }
    const m = new Throwing();
    expect(() => m.loadStateDict({ x: 'no' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { path: '$.x' } }),
    );
    expect(m.x).toBe(1);
  });

  it('validates on assignment and keeps the old value when refused', () => {
    const root = new Root();
    expect(() => {
      root.count = 1.5;
    }).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        details: expect.objectContaining({ path: '$.count' }),
      }),
    );
    expect(root.count).toBe(0);
  });

  it('accepts a Standard Schema (zod) as validator', () => {
    class WithSchema extends StateModule {
      email = 'a@b.co';
      constructor() {
        super();
        this.registerState('email', { schema: z.string().email() });
      }
    }
    const m = new WithSchema();
    expect(() => {
      m.email = 'not an email';
    }).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(() => m.loadStateDict({ email: 'nope' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    m.email = 'c@d.co';
    expect(m.email).toBe('c@d.co');
  });

  it('refuses an asynchronous schema, leaving no unhandled rejection behind', async () => {
    const asyncSchema = {
      '~standard': { version: 1, vendor: 'test', validate: () => Promise.reject(new Error('async refusal')) },
    } as const;
    class WithAsyncSchema extends StateModule {
      value = 1;
      constructor() {
        super();
        this.registerState('value', { schema: asyncSchema });
      }
    }
    expect(() => new WithAsyncSchema()).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { path: '$.value' } }),
    );
    // Let the rejected validation settle: it must have been caught.
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('refuses at registration a value the codec cannot store, naming the path', () => {
    class Bad extends StateModule {
      holder = { deep: [1, () => 2] };
      constructor() {
        super();
        this.registerState('holder');
      }
    }
    expect(() => new Bad()).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { path: '$.holder.deep[1]' } }),
    );
  });

  it('refuses at registration an initial value that fails validation', () => {
    class Bad extends StateModule {
      n = -1;
      constructor() {
        super();
        this.registerState('n', { validate: (v) => (v as number) >= 0 });
      }
    }
    expect(() => new Bad()).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: expect.objectContaining({ path: '$.n' }) }),
    );
  });

  it('refuses registering a nested module or the same attribute twice', () => {
    class Twice extends StateModule {
      a = 1;
      child = new Leaf();
      constructor(kind: 'twice' | 'nested') {
        super();
        if (kind === 'twice') {
          this.registerState('a');
          this.registerState('a');
        } else this.registerState('child');
      }
    }
    expect(() => new Twice('twice')).toThrow(/already registered/);
    expect(() => new Twice('nested')).toThrow(/nested modules are included automatically/);
  });

  it('refuses a module that contains itself', () => {
    const root = new Root() as Root & { self?: Root };
    root.self = root;
    expect(() => root.stateDict()).toThrow(expect.objectContaining({ details: { path: '$.self' } }));
  });

  it('re-adopts an attribute whose accessor a further subclass field replaced', () => {
    class Base extends StateModule {
      level = 1;
      constructor() {
        super();
        this.registerState('level', { validate: (v) => typeof v === 'number' || 'must be a number' });
      }
    }
    class Derived extends Base {
      override level = 5; // defined after Base's constructor ran: replaces the accessor
    }
    const d = new Derived();
    expect(d.stateDict()).toEqual({ level: 5 });
    const listener = vi.fn();
    d.onStateChange('level', listener);
    d.level = 6;
    expect(listener).toHaveBeenCalledWith('level', 5, 6);
  });

  it('stores keys such as __proto__ as plain data', () => {
    class Bag extends StateModule {
      data: Record<string, unknown> = {};
      constructor() {
        super();
        this.registerState('data');
      }
    }
    const bag = new Bag();
    bag.data = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const copy = new Bag();
    copy.loadStateDict(bag.stateDict());
    expect(Object.hasOwn(copy.data, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(copy.data)).toBe(Object.prototype);
  });
});

describe('change listeners', () => {
  it('fire on assignment with attribute, old and new value; "*" hears every attribute', () => {
    const root = new Root();
    const one = vi.fn();
    const all = vi.fn();
    root.onStateChange('count', one);
    root.onStateChange('*', all);
    root.count = 2;
    root.when = new Date(5);
    expect(one).toHaveBeenCalledTimes(1);
    expect(one).toHaveBeenCalledWith('count', 0, 2);
    expect(all).toHaveBeenCalledTimes(2);
    expect(all).toHaveBeenLastCalledWith('when', new Date(0), new Date(5));
  });

  it('fire on load, once per assigned attribute', () => {
    const source = new Root();
    source.count = 4;
    const target = new Root();
    const all = vi.fn();
    target.middle.leaf.onStateChange('*', all);
    target.onStateChange('*', all);
    target.loadStateDict(source.stateDict());
    expect(all.mock.calls.map((c) => c[0])).toEqual(['value', 'tags', 'count', 'when']);
  });

  it('unsubscribe stops delivery', () => {
    const root = new Root();
    const listener = vi.fn();
    const off = root.onStateChange('count', listener);
    off();
    root.count = 9;
    expect(listener).not.toHaveBeenCalled();
  });

  it('a throwing listener is reported, the assignment stands, and later listeners still run', () => {
    const reported: Array<[unknown, string]> = [];
    class Reporting extends StateModule {
      n = 0;
      constructor() {
        super({ onListenerError: (error, attribute) => reported.push([error, attribute]) });
        this.registerState('n');
      }
    }
    const m = new Reporting();
    const after = vi.fn();
    m.onStateChange('n', () => {
      throw new Error('listener broke');
    });
    m.onStateChange('n', after);
    m.n = 1;
    expect(m.n).toBe(1);
    expect(after).toHaveBeenCalledWith('n', 0, 1);
    expect(reported).toHaveLength(1);
    expect((reported[0]![0] as Error).message).toBe('listener broke');
    expect(reported[0]![1]).toBe('n');
  });

  it('a throwing listener is reported through onError, naming the module and attribute', () => {
    const reported: Array<[unknown, BackgroundErrorContext]> = [];
    class Reporting extends StateModule {
      n = 0;
      constructor() {
        super({ onError: (error, context) => reported.push([error, context]) });
        this.registerState('n');
      }
    }
    const m = new Reporting();
    m.onStateChange('n', () => {
      throw new Error('listener broke');
    });
    m.n = 1;
    expect(m.n).toBe(1);
    expect(reported).toHaveLength(1);
    expect((reported[0]![0] as Error).message).toBe('listener broke');
    expect(reported[0]![1]).toEqual({
      source: 'StateModule change listener',
      details: { module: 'Reporting', attribute: 'n' },
    });
  });

  it('by default a throwing listener becomes a process warning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const root = new Root();
      root.onStateChange('count', () => {
        throw new Error('boom');
      });
      root.count = 1;
      expect(root.count).toBe(1);
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('boom'),
        expect.objectContaining({ code: 'AGENTSTATE_BACKGROUND_ERROR' }),
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses to listen to an attribute that is not registered', () => {
    expect(() => new Root().onStateChange('nope', () => {})).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_KEY' }),
    );
  });

  it('markChanged tells listeners about in-place changes', () => {
    const leaf = new Leaf();
    const listener = vi.fn();
    leaf.onStateChange('tags', listener);
    leaf.tags.add('b');
    leaf.markChanged('tags');
    expect(listener).toHaveBeenCalledWith('tags', leaf.tags, leaf.tags);
  });
});

describe('custom codec', () => {
  it('stores registered classes through the module codec and refuses unregistered ones', () => {
    class Point {
      x: number;
      y: number;
      constructor(x: number, y: number) {
        this.x = x;
        this.y = y;
      }
    }
    const codec = new Codec().register('Point', {
      class: Point,
      encode: (p: Point) => [p.x, p.y],
      decode: ([x, y]: number[]) => new Point(x!, y!),
    });
    class WithPoint extends StateModule {
      at = new Point(1, 2);
      constructor(c?: Codec) {
        super(c ? { codec: c } : {});
        this.registerState('at');
      }
    }
    const m = new WithPoint(codec);
    const copy = new WithPoint(codec);
    m.at = new Point(3, 4);
    copy.loadStateDict(m.stateDict());
    expect(copy.at).toBeInstanceOf(Point);
    expect(copy.at).toEqual(new Point(3, 4));
    expect(() => new WithPoint()).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ path: '$.at' }) }),
    );
  });

  it('encodedStateDict still has a nested module with another codec refuse what only the outer codec stores', () => {
    class Point {
      x = 1;
    }
    const codec = new Codec().register('Point', {
      class: Point,
      encode: (p: Point) => p.x,
      decode: (x: number) => Object.assign(new Point(), { x }),
    });
    class Inner extends StateModule {
      at: unknown = null;
      constructor() {
        super();
        this.registerState('at');
      }
    }
    class Outer extends StateModule {
      inner = new Inner();
      constructor() {
        super({ codec });
      }
    }
    const outer = new Outer();
    outer.inner.at = new Point();
    const refusal = expect.objectContaining({ details: expect.objectContaining({ path: '$.inner.at' }) });
    expect(() => outer.stateDict()).toThrow(refusal);
    expect(() => outer.encodedStateDict()).toThrow(refusal);
  });
});
