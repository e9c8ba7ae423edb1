import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PersistentContext } from '../../src/index.ts';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';
import { tempDirs } from './helpers.ts';

const newDir = tempDirs();

async function onDisk(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')).data;
  } catch {
    return undefined;
  }
}

describe('PersistentContext autosave', () => {
  // Only the debounce timer and the clock are faked; file I/O is real.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('saves debounceMs after the last change, not before', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path, { autosave: { debounceMs: 1000 } });
    ctx.set('a', 1);
    vi.advanceTimersByTime(600);
    ctx.set('a', 2); // restarts the wait
    vi.advanceTimersByTime(600);
    expect(await onDisk(path)).toBeUndefined();
    expect(ctx.dirty).toBe(true);
    vi.advanceTimersByTime(400);
    await vi.waitFor(async () => expect(await onDisk(path)).toEqual({ a: 2 }));
    expect(ctx.dirty).toBe(false);
    await ctx.close();
  });

  it('saves by maxWaitMs even while changes keep coming', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path, { autosave: { debounceMs: 100, maxWaitMs: 250 } });
    for (let i = 0; i < 5; i++) {
      ctx.set('i', i);
      vi.advanceTimersByTime(60);
    }
    await vi.waitFor(async () => expect((await onDisk(path))?.i).toBeGreaterThanOrEqual(3));
    await ctx.close();
  });

  it('always saves pending changes on close()', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path, { autosave: { debounceMs: 60_000 } });
    ctx.set('late', true);
    await ctx.close();
    expect(await onDisk(path)).toEqual({ late: true });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a failed autosave and keeps the changes unsaved', async () => {
    const dir = await newDir();
    const path = join(dir, 'ctx.json');
    const errors: unknown[] = [];
    const ctx = await PersistentContext.create(path, {
      autosave: { debounceMs: 10 },
      onAutosaveError: (error) => errors.push(error),
    });
    await ctx.save();
    await writeFile(path, 'corrupted by someone');
    ctx.set('a', 1);
    vi.advanceTimersByTime(10);
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toMatchObject({ code: 'CORRUPT_STATE' });
    expect(ctx.dirty).toBe(true);
  });

  it('reports a failed autosave through onError, naming the source and the file', async () => {
    const path = join(await newDir(), 'ctx.json');
    const reports: Array<[unknown, BackgroundErrorContext]> = [];
    const ctx = await PersistentContext.create(path, {
      autosave: { debounceMs: 10 },
      onError: (error, context) => reports.push([error, context]),
    });
    await ctx.save();
    await writeFile(path, 'corrupted by someone');
    ctx.set('a', 1);
    vi.advanceTimersByTime(10);
    await vi.waitFor(() => expect(reports).toHaveLength(1));
    expect(reports[0]![0]).toMatchObject({ code: 'CORRUPT_STATE' });
    expect(reports[0]![1]).toEqual({ source: 'PersistentContext autosave', details: { path } });
  });
});
