import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isAgentStateError, TtlStore, type TtlStoreEvents } from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';

function store<V = unknown>(options: { maxEntries?: number } = {}) {
  const clock = new ManualClock();
  return { clock, store: new TtlStore<V>({ now: clock.now, sweepIntervalMs: 0, ...options }) };
}

describe('TtlStore (memory)', () => {
  it('stores values as given, without cloning, but hands out fresh entry arrays', () => {
    const { store: s } = store();
    const value = { list: [1] };
    s.set('k', value);
    expect(s.get('k')).toBe(value);
    const entries = s.entries();
    entries[0]![1] = 'changed';
    entries.push(['x', 1]);
    expect(s.get('k')).toBe(value);
    expect(s.size).toBe(1);
  });

  it('stores undefined as a value: present, not the fallback, and reported by every read', () => {
    const { clock, store: s } = store<string | undefined>();
    const expired: unknown[] = [];
    s.on('expire', (event) => expired.push(event));
    s.set('u', undefined, { ttlMs: 100 });
    expect(s.has('u')).toBe(true);
    expect(s.get('u', 'fallback')).toBeUndefined();
    expect(s.entries()).toEqual([['u', undefined]]);
    expect(s.keys()).toEqual(['u']);
    clock.advance(100);
    expect(s.get('u', 'fallback')).toBe('fallback');
    expect(expired).toEqual([{ key: 'u', value: undefined, expiredAt: expect.any(Number) }]);
    // Overwrites and removals between undefined and other values keep every read right.
    s.set('a', undefined);
    s.set('b', undefined);
    s.set('a', 'one');
    expect(s.get('b', 'fallback')).toBeUndefined();
    expect(s.get('a', 'fallback')).toBe('one');
    expect(s.get('missing', 'fallback')).toBe('fallback');
    s.delete('b');
    expect(s.get('b', 'fallback')).toBe('fallback');
    s.set('a', undefined);
    expect(s.get('a', 'fallback')).toBeUndefined();
    s.clear();
    s.set('c', undefined);
    expect(s.get('c', 'fallback')).toBeUndefined();
    expect(s.get('a', 'fallback')).toBe('fallback');
  });

  it('sweeps exactly the keys that are due', () => {
    const { clock, store: s } = store();
    for (let i = 0; i < 1000; i++) s.set(`k${i}`, i, { ttlMs: i < 10 ? 100 : 10_000 });
    s.set('forever', true);
    expect(s.sweep()).toBe(0);
    clock.advance(100);
    expect(s.sweep()).toBe(10);
    expect(s.size).toBe(991);
    expect(s.get('k10')).toBe(10);
    clock.advance(10_000);
    expect(s.sweep()).toBe(990);
    expect(s.keys()).toEqual(['forever']);
  });

  it('sweeps a key at its latest expiry after it was extended, shortened or persisted', () => {
    const { clock, store: s } = store();
    s.set('extended', 1, { ttlMs: 100 });
    s.expire('extended', 1000);
    s.set('shortened', 1, { ttlMs: 1000 });
    s.set('shortened', 2, { ttlMs: 50 });
    s.set('persisted', 1, { ttlMs: 100 });
    s.persist('persisted');
    clock.advance(100);
    expect(s.sweep()).toBe(1); // shortened
    expect(s.keys().sort()).toEqual(['extended', 'persisted']);
    clock.advance(900);
    expect(s.sweep()).toBe(1); // extended
    expect(s.keys()).toEqual(['persisted']);
  });

  it('keeps memory bounded under constant churn of short-lived keys, without the timer', () => {
    const { clock, store: s } = store();
    for (let i = 0; i < 200_000; i++) {
      s.set(`churn:${i}`, i, { ttlMs: 10 });
      if (i % 100 === 0) clock.advance(1);
    }
    // Sets sweep a little each: only about the last 10 ms worth of keys (10 * 100) can still be held.
    expect(s.keys().length).toBeLessThanOrEqual(1100);
  });

  it('emits set, delete and expire events with plain payloads, and unsubscribes', () => {
    const { clock, store: s } = store<number>();
    const seen: string[] = [];
    const offSet = s.on('set', (e: TtlStoreEvents<number>['set']) =>
      seen.push(`set ${e.key}=${e.value} ${e.expiresAt ?? '-'}`),
    );
    s.on('delete', (e) => seen.push(`delete ${e.key}=${e.value} ${e.reason}`));
    s.on('expire', (e) => seen.push(`expire ${e.key}=${e.value}`));
    s.set('a', 1);
    s.set('b', 2, { ttlMs: 10 });
    s.increment('a');
    s.delete('a');
    clock.advance(10);
    expect(s.get('b')).toBeUndefined();
    offSet();
    s.set('c', 3);
    s.clear();
    expect(seen).toEqual([
      'set a=1 -',
      `set b=2 ${clock.time - 10 + 10}`,
      'set a=2 -',
      'delete a=2 delete',
      'expire b=2',
      'delete c=3 clear',
    ]);
    expect(() => s.on('nope' as 'set', () => {})).toThrow(/unknown TtlStore event/);
  });

  it('an expire listener never reads a value that expired in the same sweep', () => {
    const { clock, store: s } = store<number>();
    const readInListener: Array<[unknown, string[]]> = [];
    s.on('expire', (e) => {
      readInListener.push([s.get(e.key === 'a' ? 'b' : 'a', -1), s.keys()]);
    });
    s.set('a', 1, { ttlMs: 10 });
    s.set('b', 2, { ttlMs: 10 });
    s.set('live', 3, { ttlMs: 1000 });
    clock.advance(10);
    s.sweep();
    // Both keys expired at the same ms: whichever goes first, the other is already unreadable.
    expect(readInListener).toEqual([
      [-1, ['live']],
      [-1, ['live']],
    ]);
    expect(s.keys()).toEqual(['live']);
  });

  it('a throwing expire listener leaves no expired key readable or unswept', () => {
    const { clock, store: s } = store<number>();
    let failures = 1;
    s.on('expire', () => {
      if (failures-- > 0) throw new Error('listener failed');
    });
    for (let i = 0; i < 5; i++) s.set(`k${i}`, i, { ttlMs: 10 });
    clock.advance(10);
    expect(() => s.sweep()).toThrow('listener failed');
    for (let i = 0; i < 5; i++) expect(s.get(`k${i}`, -1)).toBe(-1);
    s.set('again', 1, { ttlMs: 10 });
    clock.advance(10);
    expect(s.sweep()).toBe(1);
    expect(s.size).toBe(0);
  });

  it('maxEntries evicts due keys first, then the soonest to expire, then the oldest without expiry', () => {
    const { clock, store: s } = store({ maxEntries: 3 });
    const evicted: string[] = [];
    s.on('delete', (e) => evicted.push(`${e.key}:${e.reason}`));
    s.set('late', 1, { ttlMs: 5000 });
    s.set('soon', 1, { ttlMs: 1000 });
    s.set('due', 1, { ttlMs: 10 });
    clock.advance(10);
    s.set('n1', 1); // 'due' is swept, nothing evicted
    expect(evicted).toEqual([]);
    expect(s.keys().sort()).toEqual(['late', 'n1', 'soon']);
    s.set('n2', 1); // evicts 'soon'
    s.set('n3', 1); // evicts 'late'
    s.set('n4', 1); // only keys without expiry: evicts the oldest, 'n1'
    expect(evicted).toEqual(['soon:evict', 'late:evict', 'n1:evict']);
    expect(s.keys().sort()).toEqual(['n2', 'n3', 'n4']);
    s.set('n4', 2); // overwriting never evicts
    expect(s.size).toBe(3);
  });

  it('a set over an expired key not yet swept expires it first: its event, and a new creation order', () => {
    const { clock, store: s } = store<number>({ maxEntries: 2 });
    const seen: string[] = [];
    s.on('expire', (e) => seen.push(`expire ${e.key}=${e.value}`));
    s.on('delete', (e) => seen.push(`${e.reason} ${e.key}`));
    s.set('a', 1, { ttlMs: 10 });
    s.set('b', 1);
    clock.advance(10);
    s.set('a', 2); // 'a' is created again, after 'b'
    s.set('c', 1); // full, no key expires: the oldest-created key is 'b'
    expect(seen).toEqual(['expire a=1', 'evict b']);
    expect(s.keys().sort()).toEqual(['a', 'c']);
  });

  it('a listener that writes the key being inserted while maxEntries makes room leaves one entry for it', () => {
    const { clock, store: s } = store<number>({ maxEntries: 2 });
    s.on('expire', () => s.set('last-expired', 0));
    s.set('a', 1, { ttlMs: 10 });
    s.set('b', 2);
    clock.advance(10);
    s.set('last-expired', 1); // full: makes room by sweeping 'a', whose listener writes this same key
    expect(s.get('last-expired')).toBe(1);
    expect(s.keys().sort()).toEqual(['b', 'last-expired']);
    expect(s.delete('last-expired')).toBe(true);
    expect(s.has('last-expired')).toBe(false);
    expect(s.keys()).toEqual(['b']);
  });

  it('grows past its initial capacity and reuses freed slots', () => {
    const { store: s } = store();
    for (let i = 0; i < 5000; i++) s.set(`k${i}`, i, { ttlMs: 1000 + i });
    for (let i = 0; i < 5000; i += 2) s.delete(`k${i}`);
    for (let i = 0; i < 2500; i++) s.set(`n${i}`, -i);
    expect(s.size).toBe(5000);
    expect(s.get('k4999')).toBe(4999);
    expect(s.get('k4998')).toBeUndefined();
    expect(s.get('n2499')).toBe(-2499);
  });

  it('closing stops everything: reads find nothing, writes throw CLOSED', async () => {
    const { store: s } = store();
    s.set('k', 1);
    await s[Symbol.asyncDispose]();
    expect(s.get('k')).toBeUndefined();
    expect(s.size).toBe(0);
    try {
      s.set('k', 2);
      throw new Error('expected CLOSED');
    } catch (error) {
      expect(isAgentStateError(error, 'CLOSED')).toBe(true);
    }
    expect(() => s.cooldown('c', 10)).toThrow(/closed/);
    await expect(s.acquireLock('l', { ttlMs: 10 })).rejects.toThrow(/closed/);
    s.close();
  });

  it('refuses bad options', () => {
    expect(() => new TtlStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new TtlStore({ sweepIntervalMs: -1 })).toThrow(/sweepIntervalMs/);
  });

  it('with the default clock, honours real time', async () => {
    const s = new TtlStore();
    s.set('k', 1, { ttlMs: 20 });
    expect(s.get('k')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(s.get('k')).toBeUndefined();
    s.close();
  });

  it('with the default clock, a synchronous loop sees an expiry within 64 reads', () => {
    const s = new TtlStore();
    const start = Date.now();
    s.set('k', 1, { ttlMs: 5 });
    // A busy synchronous loop: no microtask runs, so only the read count refreshes the cached time.
    while (Date.now() < start + 10) s.get('k');
    let stale = 0;
    for (let i = 0; i < 1000 && s.get('k') !== undefined; i++) stale++;
    expect(stale).toBeLessThanOrEqual(64);
    expect(s.has('k')).toBe(false);
    s.close();
  });

  it('its sweep timer never keeps the process alive, even without close()', () => {
    const url = new URL('../../src/ttl/index.ts', import.meta.url).href;
    const script = `const { TtlStore } = await import(${JSON.stringify(url)});
      const s = new TtlStore({ sweepIntervalMs: 10 });
      s.set('k', 1, { ttlMs: 60000 });
      await s.acquireLock('l', { ttlMs: 60000 });
      console.log('done');`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('done');
    expect(result.status).toBe(0);
  });
});
