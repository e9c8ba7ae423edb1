import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireDirLock } from '../../src/drivers/fs/dirLock.ts';
import { formatDocument } from '../../src/drivers/fs/envelope.ts';
import { documentFileName, namespaceDirName } from '../../src/drivers/fs/fileNames.ts';
import { writeJournal } from '../../src/drivers/fs/journal.ts';
import {
  type AgentStateError,
  type CorruptStateError,
  createFsStore,
  type DocumentStore,
  type FsStoreOptions,
  isAgentStateError,
  UnavailableError,
} from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';

async function codeOf(promise: Promise<unknown>): Promise<AgentStateError> {
  try {
    await promise;
  } catch (error) {
    if (isAgentStateError(error)) return error;
    throw error;
  }
  throw new Error('expected an AgentStateError');
}

describe('filesystem driver', () => {
  let root: string;
  let dir: string;
  const open: DocumentStore[] = [];
  const corruptions: CorruptStateError[] = [];

  function store(options: Partial<FsStoreOptions> = {}): DocumentStore {
    const s = createFsStore({ dir, onCorruption: (e) => corruptions.push(e), ...options });
    open.push(s);
    return s;
  }

  const pathOf = (namespace: string, id: string) =>
    join(dir, namespaceDirName(namespace), documentFileName(id));

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'agentstate-fs-'));
    dir = join(root, 'store');
    corruptions.length = 0;
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await rm(root, { recursive: true, force: true });
  });

  it('refuses ids that are paths, naming the id, and writes nothing anywhere', async () => {
    const s = store();
    const bad = ['../x', '..', '.', '/etc/passwd', 'a/b', 'a\\b', '..\\..\\x', 'C:\\windows', 'nul\0byte'];
    for (const id of bad) {
      for (const attempt of [
        s.put('agents', id, 1),
        s.get('agents', id),
        s.delete('agents', id),
        s.batch([{ type: 'put', namespace: 'agents', id, value: 1 }]),
      ]) {
        const error = await codeOf(attempt);
        expect(error.code).toBe('INVALID_INPUT');
        expect(error.details.id).toBe(id);
        expect(error.message).toContain(JSON.stringify(id));
      }
    }
    expect(await readdir(root)).toEqual(['store']);
    expect((await readdir(dir)).filter((name) => !name.startsWith('.'))).toEqual([]);
  });

  it('maps every accepted id to a distinct, plain file name and reads them back after a reopen', async () => {
    const ids = [
      '.hidden',
      '..x',
      'A',
      'a',
      '%41',
      '__proto__',
      'con',
      'CON',
      'with space',
      'x'.repeat(1024),
      'é'.repeat(300),
      '😀',
      '\uD800',
      '\uFFFF',
      'tab\there',
      '~',
    ];
    let s = store();
    for (const id of ids) await s.put('ids', id, id);
    await s.close();
    s = store();
    for (const id of ids) expect((await s.get('ids', id))?.value).toBe(id);
    expect((await s.list('ids', { limit: 1000 })).items.map((d) => d.id)).toEqual([...ids].sort());
    const names = await readdir(join(dir, namespaceDirName('ids')));
    expect(names).toHaveLength(ids.length);
    // Distinct even on a case-insensitive filesystem.
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(ids.length);
    for (const name of names) {
      expect(name).toMatch(/^[a-z0-9_%-][a-z0-9_.%~uA-F-]*\.jsonl$/);
      expect(Buffer.byteLength(name)).toBeLessThan(200);
    }
  });

  it('moves a corrupt file aside on read, reports both paths, and never overwrites it', async () => {
    const s = store();
    await s.put('agents', 'broken', { n: 1 });
    await s.put('agents', 'fine', { n: 2 });
    const path = pathOf('agents', 'broken');
    await writeFile(path, 'garbage that is not a document');
    const error = (await codeOf(s.get('agents', 'broken'))) as CorruptStateError;
    expect(error.code).toBe('CORRUPT_STATE');
    expect(error.details).toMatchObject({ path, namespace: 'agents', id: 'broken' });
    const aside = error.details.quarantinedTo as string;
    expect(error.message).toContain(aside);
    expect(await readFile(aside, 'utf8')).toBe('garbage that is not a document');
    expect(corruptions.map((e) => e.details.quarantinedTo)).toEqual([aside]);
    // The document is now missing; writing it again starts a new one and leaves the kept file alone.
    expect(await s.get('agents', 'broken')).toBeUndefined();
    expect((await s.put('agents', 'broken', { n: 3 }, { expectedRevision: 0 })).revision).toBe(1);
    expect(await readFile(aside, 'utf8')).toBe('garbage that is not a document');
    expect((await s.get('agents', 'fine'))?.value).toEqual({ n: 2 });
  });

  it('moves corrupt files aside on open and reports them, keeping the others', async () => {
    let s = store();
    await s.put('agents', 'ok', 1);
    await s.put('agents', 'bad-header', 2);
    await s.put('agents', 'bad-value', 3);
    await s.close();
    await writeFile(pathOf('agents', 'bad-header'), '{"format":"nope"}\n1\n');
    const badValue = (await readFile(pathOf('agents', 'bad-value'), 'utf8')).replace(/\n3\n$/, '\n{oops\n');
    await writeFile(pathOf('agents', 'bad-value'), badValue);
    s = store();
    expect((await s.get('agents', 'ok'))?.value).toBe(1);
    expect(corruptions).toHaveLength(1);
    expect(corruptions[0]?.details.path).toBe(pathOf('agents', 'bad-header'));
    expect(await s.get('agents', 'bad-header')).toBeUndefined();
    // The header was fine, so only reading the value finds the damage.
    expect((await codeOf(s.get('agents', 'bad-value'))).code).toBe('CORRUPT_STATE');
    expect(corruptions).toHaveLength(2);
    const kept = (await readdir(join(dir, namespaceDirName('agents')))).filter((n) =>
      n.includes('.corrupt-'),
    );
    expect(kept).toHaveLength(2);
  });

  it('keeps revisions and expiries across a reopen (index rebuilt from the files)', async () => {
    const clock = new ManualClock();
    let s = store({ now: clock.now });
    await s.put('ttl', 'short', 1, { ttlMs: 1000 });
    await s.put('ttl', 'kept', 1);
    await s.put('ttl', 'kept', 2, { metadata: { m: true } });
    await s.close();
    clock.advance(5000);
    s = store({ now: clock.now });
    expect(await s.get('ttl', 'short')).toBeUndefined();
    expect(await s.get('ttl', 'kept')).toMatchObject({ value: 2, revision: 2, metadata: { m: true } });
    expect(await s.sweepExpired()).toBe(1);
    expect(await readdir(join(dir, namespaceDirName('ttl')))).toEqual([documentFileName('kept')]);
    await expect(s.put('ttl', 'kept', 3, { expectedRevision: 1 })).rejects.toMatchObject({
      code: 'REVISION_CONFLICT',
    });
  });

  it('completes a batch from its journal on open, and drops an incomplete journal', async () => {
    let s = store();
    await s.put('agents', 'gone', 'old');
    await s.put('agents', 'changed', 'old');
    await s.close();
    const header = { format: 'agentstate.document/1' as const, createdAt: 1, updatedAt: 2 };
    await writeJournal(
      dir,
      [
        { namespace: 'agents', id: 'gone', content: null },
        {
          namespace: 'agents',
          id: 'changed',
          content: formatDocument({ ...header, namespace: 'agents', id: 'changed', revision: 2 }, '"new"'),
        },
        {
          namespace: 'sessions',
          id: 'created',
          content: formatDocument({ ...header, namespace: 'sessions', id: 'created', revision: 1 }, '"new"'),
        },
      ],
      true,
    );
    // A journal whose atomic write never finished (temp name) was never committed.
    await writeFile(join(dir, '.journal', '.123-abc.json.1.ffff.tmp'), '{"partial');
    s = store();
    expect(await s.get('agents', 'gone')).toBeUndefined();
    expect(await s.get('agents', 'changed')).toMatchObject({ value: 'new', revision: 2 });
    expect(await s.get('sessions', 'created')).toMatchObject({ value: 'new', revision: 1 });
    expect(await readdir(join(dir, '.journal'))).toEqual([]);
  });

  // The lock is the package's file lock: a symbolic link whose text is `<pid>:<host hash>:<token>`.
  const lockHolderPid = async () => Number((await readlink(join(dir, '.lock'))).split(':')[0]);

  it('refuses a directory held by another live process and takes over a dead one', async () => {
    await mkdir(dir, { recursive: true });
    const { hostname } = await import('node:os');
    const lock = (pid: number) =>
      JSON.stringify({ pid, hostname: hostname(), since: new Date().toISOString() });
    await writeFile(join(dir, '.lock'), lock(process.ppid));
    const held = store();
    const error = await codeOf(held.get('agents', 'a'));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.details).toMatchObject({ pid: process.ppid });

    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(join(dir, '.lock'), lock(deadPid));
    const s = store();
    await s.put('agents', 'a', 1);
    expect(await lockHolderPid()).toBe(process.pid);
    await s.close();
    await expect(lstat(join(dir, '.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('releases a directory lock only while it still owns it', async () => {
    await mkdir(dir, { recursive: true });
    const first = await acquireDirLock(dir);
    // The same process may take its own lock over (a store reopened after a crash of its handle).
    const second = await acquireDirLock(dir);
    await first.release();
    expect(await lockHolderPid()).toBe(process.pid);
    await second.release();
    await expect(lstat(join(dir, '.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('shares one index between two handles in a process, so compare-and-set stays exact', async () => {
    const a = store();
    const b = store();
    await a.put('race', 'doc', 0);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).put('race', 'doc', i, { expectedRevision: 1 })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    await a.close();
    expect((await b.get('race', 'doc'))?.revision).toBe(2);
  });

  it('never deadlocks batches that lock the same documents in different orders', async () => {
    const s = store();
    const ops = Array.from({ length: 30 }, (_, i) => {
      const ids = i % 2 ? ['a', 'b', 'c'] : ['c', 'b', 'a'];
      return i % 3 === 0
        ? s.put('agents', ids[0]!, i)
        : s.batch(ids.map((id) => ({ type: 'put' as const, namespace: 'agents', id, value: i })));
    });
    await Promise.all(ops);
    const revisions = await Promise.all(
      ['a', 'b', 'c'].map(async (id) => (await s.get('agents', id))?.revision),
    );
    expect(revisions.reduce((sum, r) => sum! + r!, 0)).toBe(30 + 20 * 2);
  });

  it('leaves no temp files behind', async () => {
    const s = store();
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.put('agents', `a${i}`, { i })));
    await s.batch([
      { type: 'put', namespace: 'agents', id: 'b1', value: 1 },
      { type: 'put', namespace: 'agents', id: 'b2', value: 2 },
    ]);
    const names = await readdir(join(dir, namespaceDirName('agents')));
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(names).toHaveLength(22);
  });
});
