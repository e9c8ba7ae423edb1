/** The TTL stores' background work reports its failures through `onError`. */
import { describe, expect, it } from 'vitest';
import { type BackgroundErrorContext, RedisTtlStore, TtlStore } from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';

describe('TTL stores report background errors through onError', () => {
  it('TtlStore: a listener that throws during the timer sweep is reported, and the sweep keeps running', async () => {
    const reports: Array<[unknown, BackgroundErrorContext]> = [];
    const store = new TtlStore<number>({
      sweepIntervalMs: 5,
      onError: (error, context) => reports.push([error, context]),
    });
    store.on('expire', () => {
      throw new Error('listener broke');
    });
    store.set('a', 1, { ttlMs: 1 });
    await eventually(() => reports.length >= 1, 2000);
    expect((reports[0]![0] as Error).message).toBe('listener broke');
    expect(reports[0]![1]).toEqual({ source: 'TtlStore sweep' });
    store.set('b', 2, { ttlMs: 1 });
    await eventually(() => reports.length >= 2, 2000);
    await store.close();
  });

  it('RedisTtlStore: an unreachable server is reported once, not once per reconnect attempt', async () => {
    const reports: Array<[unknown, BackgroundErrorContext]> = [];
    const store = new RedisTtlStore({
      redis: 'redis://127.0.0.1:1',
      onError: (error, context) => reports.push([error, context]),
    });
    await expect(store.get('k')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reports).toHaveLength(1);
    expect(reports[0]![1]).toMatchObject({ source: 'RedisTtlStore connection' });
    await store.close();
  });
});
