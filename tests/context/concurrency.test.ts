import { spawn } from 'node:child_process';
import { hash } from 'node:crypto';
import { lutimes, readdir, readFile, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PersistentContext, TimeoutError } from '../../src/index.ts';
import { acquireFileLock } from '../../src/shared/fileLock.ts';
import { tempDirs } from './helpers.ts';

const newDir = tempDirs();

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('PersistentContext concurrency in one process', () => {
  it('serialises concurrent saves; the last state wins', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    const saves: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      ctx.set('counter', i);
      ctx.set(`k${i}`, i);
      saves.push(ctx.save());
    }
    await Promise.all(saves);
    const again = await PersistentContext.create(path);
    expect(again.get('counter')).toBe(19);
    expect(again.size).toBe(21);
  });

  it('merges two contexts on one file: different keys are both kept, the same key goes to the later save', async () => {
    const path = join(await newDir(), 'ctx.json');
    const a = await PersistentContext.create(path);
    const b = await PersistentContext.create(path);
    a.set('fromA', 1);
    a.set('shared', 'a');
    b.set('fromB', 2);
    b.set('shared', 'b');
    await a.save();
    await b.save();
    // b's save merged a's key into b as well.
    expect(b.getAll()).toEqual({ fromA: 1, fromB: 2, shared: 'b' });
    const fresh = await PersistentContext.create(path);
    expect(fresh.getAll()).toEqual({ fromA: 1, fromB: 2, shared: 'b' });
    // A delete is a change too: it removes the key from the file, not others' keys.
    a.delete('fromA');
    await a.save();
    expect((await PersistentContext.create(path)).getAll()).toEqual({ fromB: 2, shared: 'b' });
  });

  it('reload picks up another writer, keeping unsaved changes unless discarded', async () => {
    const path = join(await newDir(), 'ctx.json');
    const reader = await PersistentContext.create(path);
    const writer = await PersistentContext.create(path);
    writer.set('news', 'hello');
    await writer.save();
    reader.set('mine', 1);
    await reader.reload();
    expect(reader.get('news')).toBe('hello');
    expect(reader.get('mine')).toBe(1);
    expect(reader.dirty).toBe(true);
    await reader.reload({ discardChanges: true });
    expect(reader.has('mine')).toBe(false);
    expect(reader.dirty).toBe(false);
  });

  it('writes everything it holds if the file was deleted meanwhile', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('a', 1);
    await ctx.save();
    await unlink(path);
    ctx.set('b', 2);
    await ctx.save();
    expect((await PersistentContext.create(path)).getAll()).toEqual({ a: 1, b: 2 });
  });

  it('keeps what it holds when the file vanished and another writer created a new one before the save', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('a', 1);
    await ctx.save();
    await unlink(path);
    await ctx.reload();
    expect(ctx.dirty).toBe(true);
    const other = await PersistentContext.create(path);
    other.set('b', 2);
    await other.save();
    // A reload before the save must not drop the held data either.
    await ctx.reload();
    expect(ctx.getAll()).toEqual({ a: 1, b: 2 });
    await ctx.save();
    expect((await PersistentContext.create(path)).getAll()).toEqual({ a: 1, b: 2 });
  });
});

describe('the cross-process file lock', () => {
  it('breaks at once a lock whose holder process is dead', async () => {
    const path = join(await newDir(), 'ctx.json');
    // The lock's text: pid, hash of the hostname, token (here a regular file, as on systems without symlinks).
    const host = hash('sha256', hostname()).slice(0, 8);
    await writeFile(`${path}.lock`, `${await deadPid()}:${host}:${'0'.repeat(16)}`);
    const ctx = await PersistentContext.create(path, { lock: { timeoutMs: 200 } });
    ctx.set('a', 1);
    await ctx.save();
    await expect(stat(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('breaks a lock its holder stopped refreshing for staleMs (e.g. another host)', async () => {
    const path = join(await newDir(), 'ctx.json');
    await symlink(`1:0badc0de:${'1'.repeat(16)}`, `${path}.lock`);
    const old = new Date(Date.now() - 60_000);
    await lutimes(`${path}.lock`, old, old);
    const ctx = await PersistentContext.create(path, { lock: { staleMs: 5_000, timeoutMs: 200 } });
    ctx.set('a', 1);
    await ctx.save();
    expect((await PersistentContext.create(path)).get('a')).toBe(1);
  });

  it('times out on a live lock, naming the holder, and keeps the changes unsaved', async () => {
    const path = join(await newDir(), 'ctx.json');
    const held = await acquireFileLock(`${path}.lock`);
    const ctx = await PersistentContext.create(path, { lock: { timeoutMs: 100 } });
    ctx.set('a', 1);
    const error = await ctx.save().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).details).toMatchObject({ path: `${path}.lock` });
    expect(ctx.dirty).toBe(true);
    await held.release();
    await ctx.save();
    expect(ctx.dirty).toBe(false);
    await expect(readFile(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives the lock to one holder at a time', async () => {
    const lockPath = join(await newDir(), 'x.lock');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const lock = await acquireFileLock(lockPath);
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inside--;
        await lock.release();
      }),
    );
    expect(maxInside).toBe(1);
  });
});

describe('temp files left by killed writers', () => {
  it("are removed at the next writer's first save, and only this file's", async () => {
    const dir = await newDir();
    const path = join(dir, 'ctx.json');
    const orphan = '.ctx.json.4242.abcdefabcdef.tmp';
    const otherFilesTemp = '.ctx.json.x.4242.abcdefabcdef.tmp';
    const youngLockTemp = 'ctx.json.lock.4242.abcdefabcdef.tmp';
    for (const file of [orphan, otherFilesTemp, youngLockTemp]) await writeFile(join(dir, file), 'partial');
    const ctx = await PersistentContext.create(path);
    ctx.set('a', 1);
    await ctx.save();
    const left = await readdir(dir);
    expect(left).not.toContain(orphan);
    expect(left).toContain(otherFilesTemp);
    expect(left).toContain(youngLockTemp);
  });
});
