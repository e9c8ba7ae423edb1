import { spawnSync } from 'node:child_process';
import { lstat, lutimes, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireFileLock, tryFileLock } from '../../src/shared/fileLock.ts';

describe('the file lock', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-lock-'));
    path = join(dir, 'x.lock');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

  it('one attempt names the live holder instead of waiting', async () => {
    const held = await acquireFileLock(path);
    const attempt = tryFileLock(path);
    expect(attempt).toMatchObject({ holder: { pid: process.pid } });
    await held.release();
    const again = tryFileLock(path);
    expect('lock' in again).toBe(true);
    if ('lock' in again) await again.lock.release();
  });

  it('release removes the lock only while it is still the holder', async () => {
    const first = await acquireFileLock(path);
    // Taken over (as the filesystem driver does with a lock of its own pid): the first holder's release
    // must not remove the new holder's lock.
    const second = tryFileLock(path, { reclaimOwnProcess: true });
    expect('lock' in second).toBe(true);
    await first.release();
    expect(await readlink(path)).toMatch(new RegExp(`^${process.pid}:`));
    if ('lock' in second) await second.lock.release();
    await expect(lstat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('with staleMs Infinity, an old lock of another host is never broken; a dead local pid always is', async () => {
    await symlink(`${process.pid}:00000000:0123456789abcdef`, path);
    await lutimes(path, new Date(0), new Date(0));
    expect(tryFileLock(path, { staleMs: Number.POSITIVE_INFINITY })).toMatchObject({
      holder: { host: '00000000' },
    });
    // Judged by age (the default), the same lock is stale.
    const byAge = tryFileLock(path);
    expect('lock' in byAge).toBe(true);
    if ('lock' in byAge) await byAge.lock.release();
    // The filesystem driver's earlier lock format (JSON) still names its holder.
    await writeFile(path, JSON.stringify({ pid: deadPid(), hostname: hostname() }));
    const attempt = tryFileLock(path, { staleMs: Number.POSITIVE_INFINITY });
    expect('lock' in attempt).toBe(true);
    if ('lock' in attempt) await attempt.lock.release();
  });

  it('times out naming the holder', async () => {
    const held = await acquireFileLock(path);
    await expect(acquireFileLock(path, { timeoutMs: 20 })).rejects.toMatchObject({
      code: 'TIMEOUT',
      details: { path, holder: { pid: process.pid } },
    });
    await held.release();
  });
});
