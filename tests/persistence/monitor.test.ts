/** PerformanceMonitor: metrics per backend, and recommendations that name settings and measured numbers. */
import { describe, expect, it } from 'vitest';
import {
  type BackgroundErrorContext,
  Codec,
  createCachedStore,
  createMemoryStore,
  PerformanceMonitor,
} from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';

const bigState = () => ({
  messages: Array.from({ length: 200 }, (_, i) => ({ role: 'user', content: `message ${i} about the plan` })),
});

describe('PerformanceMonitor', () => {
  it('times calls per backend and exports Prometheus metrics', async () => {
    const monitor = new PerformanceMonitor({ sampleIntervalMs: 0 });
    const store = monitor.instrument(createMemoryStore({ compression: 'gzip' }), 'main');
    await store.put('agents', 'a', bigState());
    await store.get('agents', 'a');
    const report = monitor.report();
    const main = report.backends.find((b) => b.backend === 'main')!;
    expect(main.operations.put?.count).toBe(1);
    expect(main.operations.get?.count).toBe(1);
    expect(main.compressionRatio).toBeLessThan(0.5);
    const text = await monitor.registry.metrics();
    expect(text).toContain(
      'agentstate_persistence_operation_duration_seconds_count{backend="main",operation="get"} 1',
    );
    expect(text).toContain('agentstate_persistence_written_bytes_total{backend="main",form="plain"}');
    expect(text).toMatch(/agentstate_process_memory_bytes\{kind="rss"\} \d+/);
    await store.close();
  });

  it('recommends raising ttlMs or maxEntries for a cache answering under half the reads, naming the values', async () => {
    const monitor = new PerformanceMonitor({ sampleIntervalMs: 0, minCacheReads: 10 });
    const cache = createCachedStore(createMemoryStore(), { maxEntries: 5, ttlMs: 30_000 });
    const store = monitor.instrument(cache, 'hot');
    for (let i = 0; i < 20; i++) await cache.inner.put('docs', `d${i}`, i);
    for (let i = 0; i < 20; i++) await store.get('docs', `d${i}`);
    const advice = monitor.report().recommendations.find((r) => r.type === 'cache');
    expect(advice).toMatchObject({ backend: 'hot', priority: 'high' });
    expect(advice?.message).toContain("cache of backend 'hot' answers 0% of reads (0 of 20)");
    expect(advice?.message).toContain('raise maxEntries (now 5)');
    await store.close();
  });

  it('recommends compression with the saving measured on the values written', async () => {
    const monitor = new PerformanceMonitor({ sampleIntervalMs: 0 });
    const store = monitor.instrument(createMemoryStore(), 'plain');
    for (let i = 0; i < 3; i++) await store.put('agents', `a${i}`, bigState());
    const advice = monitor.report().recommendations.find((r) => r.type === 'compression');
    expect(advice?.backend).toBe('plain');
    expect(advice?.message).toMatch(
      /stored 3 values of 1024 bytes or more uncompressed; gzip saves \d+% on 1 sampled .* set compression: gzip/,
    );
    await store.close();
  });

  it('warns of a leak when the heap grows sample after sample, with the growth rate', () => {
    let heap = 100 * 1024 * 1024;
    const monitor = new PerformanceMonitor({
      sampleIntervalMs: 0,
      leakSamples: 3,
      memoryUsage: () => {
        heap += 10 * 1024 * 1024;
        return { rss: heap * 2, heapUsed: heap };
      },
    });
    for (let i = 0; i < 4; i++) monitor.sample();
    const report = monitor.report();
    expect(report.memory.trend).toBe('rising');
    const advice = report.recommendations.find((r) => r.type === 'memory');
    expect(advice?.message).toMatch(
      /heap grew in each of the last 3 samples \(\d+\.\d MiB -> \d+\.\d MiB, .*\/min\): possible leak/,
    );
  });

  it('gives no advice when there is nothing to improve', async () => {
    const monitor = new PerformanceMonitor({ sampleIntervalMs: 0 });
    const store = monitor.instrument(createMemoryStore({ compression: 'gzip' }), 'main');
    await store.put('agents', 'a', bigState());
    expect(monitor.report().recommendations).toEqual([]);
    await store.close();
  });

  it("never fails a put it measures, even for values only the store's own codec can encode", async () => {
    class Point {
      readonly x: number;
      readonly label: string;
      constructor(x: number, label: string) {
        this.x = x;
        this.label = label;
      }
    }
    const codec = new Codec().register('Point', {
      class: Point,
      encode: (p: Point) => [p.x, p.label],
      decode: ([x, label]: [number, string]) => new Point(x, label),
    });
    const monitor = new PerformanceMonitor({ sampleIntervalMs: 0 });
    const store = monitor.instrument(createMemoryStore({ codec }), 'custom');
    const value = { points: Array.from({ length: 100 }, (_, i) => new Point(i, `point number ${i}`)) };
    const doc = await store.put('shapes', 's1', value);
    expect(doc.revision).toBe(1);
    expect((await store.get<typeof value>('shapes', 's1'))?.value.points[3]).toEqual(
      new Point(3, 'point number 3'),
    );
    expect(monitor.report().backends.find((b) => b.backend === 'custom')?.operations.put?.count).toBe(1);
    await store.close();
  });

  it('reports a failing timed sample through onError', async () => {
    const reported: Array<[unknown, BackgroundErrorContext]> = [];
    const monitor = new PerformanceMonitor({
      sampleIntervalMs: 5,
      memoryUsage: () => {
        throw new Error('no memory figures');
      },
      onError: (error, context) => reported.push([error, context]),
    });
    await eventually(() => reported.length > 0, 2000);
    expect((reported[0]![0] as Error).message).toBe('no memory figures');
    expect(reported[0]![1]).toEqual({ source: 'PerformanceMonitor sample' });
    monitor.stop();
  });
});
