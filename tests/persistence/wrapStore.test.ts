/** The wrappers (cache, access counts, monitor) pass through every member of the store they wrap. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCachedStore, createFsStore, PerformanceMonitor, trackAccess } from '../../src/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentstate-wrap-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('store wrappers', () => {
  it("keep a driver's extras and each other's reachable through any stack", async () => {
    const monitor = new PerformanceMonitor({ sampleIntervalMs: 0 });
    const fs = createFsStore({ dir, keepVersions: 2, durable: false });
    const stacked = monitor.instrument(trackAccess(createCachedStore(fs), { flushIntervalMs: 60_000 }), 'fs');
    expect(stacked.name).toBe('fs');
    await stacked.put('docs', 'a', 1);
    await stacked.put('docs', 'a', 2);
    // The filesystem driver's versions, through cache, access counts and monitor.
    expect((await stacked.versions('docs', 'a')).map((v) => v.revision)).toEqual([1]);
    expect((await stacked.getVersion('docs', 'a', 1))?.value).toBe(1);
    // The cache's statistics and the access counts, through the wrappers above them.
    expect((await stacked.get('docs', 'a'))?.value).toBe(2);
    expect(stacked.stats().hits).toBe(1);
    expect(stacked.inner).toBe(fs);
    // A hit is answered by the cache, below the access counter: counted as a read of the tracked store.
    expect((await stacked.accessInfo('docs', 'a'))?.count).toBe(1);
    // The monitor recognises the cache below the other wrapper and reports it.
    expect(monitor.report().backends.find((b) => b.backend === 'fs')?.cache?.hits).toBe(1);
    await stacked.close();
  });
});
