import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupPath } from '../../src/context/backups.ts';
import { PersistentContext } from '../../src/index.ts';
import { payloadFor } from './fixtures/payload.ts';
import { startWorker } from './fixtures/spawn.ts';
import { tempDirs } from './helpers.ts';

const newDir = tempDirs();
const KILLS = 25;

/** Opens a file (verifying its checksum) and checks it is one whole state a writer saved. */
async function completeState(path: string): Promise<number> {
  const ctx = await PersistentContext.create(path);
  const n = ctx.get('n') as number;
  expect(typeof n).toBe('number');
  expect(ctx.get('payload')).toBe(payloadFor(n));
  expect(ctx.get('at')).toEqual(new Date(n));
  return n;
}

describe('PersistentContext across processes', () => {
  it(`survives kill -9 at random moments (${KILLS} kills): the file is always an old or new complete state`, async () => {
    const dir = await newDir();
    const path = join(dir, 'ctx.json');
    let last = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const worker = startWorker('kill-loop', path);
      // The first save proves the worker got past any lock a killed predecessor left behind.
      await worker.waitFor('ready');
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 40));
      worker.child.kill('SIGKILL');
      expect(await worker.exited).toBe('SIGKILL');
      const n = await completeState(path);
      expect(n).toBeGreaterThan(last);
      last = n;
      for (const file of [backupPath(path, 1), backupPath(path, 2)]) {
        if ((await readdir(dir)).includes(file.slice(dir.length + 1))) await completeState(file);
      }
    }
    // Temp files of killed writes are removed by the next writer's first save, under the lock.
    const survivor = await PersistentContext.create(path);
    survivor.set('n', last + 1);
    survivor.set('payload', payloadFor(last + 1));
    survivor.set('at', new Date(last + 1));
    await survivor.close();
    expect((await readdir(dir)).filter((f) => f.startsWith('.ctx.json.'))).toEqual([]);
  }, 120_000);

  it('two processes saving different keys of one file both keep all their changes', async () => {
    const path = join(await newDir(), 'ctx.json');
    const count = 30;
    const a = startWorker('keys', path, 'a', String(count));
    const b = startWorker('keys', path, 'b', String(count));
    await Promise.all([a.waitFor('done'), b.waitFor('done')]);
    const ctx = await PersistentContext.create(path);
    for (let i = 0; i < count; i++) {
      expect(ctx.get(`a${i}`)).toBe(i);
      expect(ctx.get(`b${i}`)).toBe(i);
    }
    // The same key was written by both: whichever saved last wins, whole.
    expect([`a${count - 1}`, `b${count - 1}`]).toContain(ctx.get('last'));
    expect(ctx.size).toBe(2 * count + 1);
  }, 60_000);

  it("reload() picks up another process's save; a held lock of a killed process does not block", async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('mine', 1);
    await ctx.save();
    const writer = startWorker('set', path, 'theirs', '{"ok":true}');
    await writer.waitFor('done');
    await ctx.reload();
    expect(ctx.get('theirs')).toEqual({ ok: true });

    const holder = startWorker('hold-lock', path);
    await holder.waitFor('locked');
    ctx.set('mine', 2);
    const fast = await PersistentContext.create(path, { lock: { timeoutMs: 150 } });
    fast.set('x', 1);
    await expect(fast.save()).rejects.toMatchObject({ code: 'TIMEOUT' });
    holder.child.kill('SIGKILL');
    await holder.exited;
    await ctx.save();
    expect(JSON.parse(await readFile(path, 'utf8')).data).toMatchObject({ mine: 2, theirs: { ok: true } });
  }, 60_000);
});
