import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresStore, createSqliteStore, type DocumentStore } from '../../src/drivers/index.ts';
import { CorruptStateError, InvalidInputError, RevisionConflictError } from '../../src/errors.ts';
import { StateStore, ThreadStateRepository } from '../../src/state/index.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';
import { dropSchema, POSTGRES_URL, uniqueName } from '../support/services.ts';
import { Commits, LastSeen, Log, threadKeys } from './fixtures/keys.ts';

const available = new Map<string, boolean>();
for (const factory of driverFactories) available.set(factory.name, await factory.available());

function newState(): StateStore {
  return new StateStore({ keys: threadKeys });
}

describe.each(driverFactories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'ThreadStateRepository on %s',
  (name, factory) => {
    let fixture: DriverFixture;
    let repo: ThreadStateRepository;

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      fixture = await factory.create();
      repo = new ThreadStateRepository(fixture.store);
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });

    it('saves a thread and loads it into another store, codec values included', async () => {
      expect(await repo.load('t1')).toBeUndefined();
      const state = newState();
      const session = await repo.open('t1', state);
      expect(session.documentRevision).toBe(0);
      const when = new Date('2026-03-04T05:06:07.000Z');
      state.commit(state.batch().update(Log, 'hello').update(Commits, 1).update(LastSeen, when));
      const saved = await session.save();
      expect(saved.documentRevision).toBe(1);
      expect(saved.state.revision).toBe(1);

      const other = newState();
      const loaded = await repo.open('t1', other);
      expect(loaded.documentRevision).toBe(1);
      expect(other.revision).toBe(1);
      expect(other.get(Log)).toEqual(['hello']);
      expect(other.get(LastSeen)).toEqual(when);
      const record = await repo.load('t1');
      expect(record).toMatchObject({ threadId: 't1', documentRevision: 1, state: { revision: 1 } });
    });

    it('compare-and-set: of two writers that loaded the same revision, only the first save wins', async () => {
      const first = newState();
      const seed = await repo.open('race', first);
      first.update(Log, 'seed');
      await seed.save();

      const a = newState();
      const b = newState();
      // The second writer reads through another handle when the driver has one (another connection).
      const otherDocuments: DocumentStore = fixture.reopen ? await fixture.reopen() : fixture.store;
      const sessionA = await repo.open('race', a);
      const sessionB = await new ThreadStateRepository(otherDocuments).open('race', b);
      a.update(Log, 'from a');
      b.update(Log, 'from b');
      await sessionA.save();
      const error = (await sessionB.save().catch((e: unknown) => e)) as RevisionConflictError;
      expect(error).toBeInstanceOf(RevisionConflictError);
      expect(error.details).toMatchObject({ threadId: 'race', expectedRevision: 1, actualRevision: 2 });
      expect((await repo.load('race'))!.state.extensions.log).toEqual(['seed', 'from a']);

      // The loser reloads, re-applies its work and saves.
      await sessionB.reload();
      b.update(Log, 'from b');
      await sessionB.save();
      expect((await repo.load('race'))!.state.extensions.log).toEqual(['seed', 'from a', 'from b']);
      if (otherDocuments !== fixture.store && name !== 'postgres') await otherDocuments.close();
    });

    it('saves of one session run one after another, so they never conflict with each other', async () => {
      const state = newState();
      const session = await repo.open('serial', state);
      state.update(Commits, 1);
      const first = session.save();
      state.update(Commits, 1);
      const second = session.save();
      const records = await Promise.all([first, second]);
      expect(records.map((r) => r.documentRevision)).toEqual([1, 2]);
      expect((await repo.load('serial'))!.state.extensions.commits).toBe(2);
    });

    it('creating a thread that already exists is a conflict, and save needs an expected revision', async () => {
      const state = newState();
      await repo.save('t', state.exportPersisted(), { expectedRevision: 0 });
      await expect(repo.save('t', state.exportPersisted(), { expectedRevision: 0 })).rejects.toThrow(
        /already exists/,
      );
      await expect(repo.save('t', state.exportPersisted(), {} as never)).rejects.toThrow(InvalidInputError);
    });

    it('reports a stored document that is not a persisted state as corrupt, and keeps it', async () => {
      await fixture.store.put(repo.namespace, 'bad', { something: 'else' });
      const error = (await repo.load('bad').catch((e: unknown) => e)) as CorruptStateError;
      expect(error).toBeInstanceOf(CorruptStateError);
      expect(error.details).toMatchObject({ threadId: 'bad' });
      expect((await fixture.store.get(repo.namespace, 'bad'))?.value).toEqual({ something: 'else' });
    });

    it('lists and deletes threads', async () => {
      const state = newState();
      for (const id of ['b', 'a', 'c']) await repo.save(id, state.exportPersisted(), { expectedRevision: 0 });
      expect(await repo.list()).toEqual({ threadIds: ['a', 'b', 'c'] });
      const page = await repo.list({ limit: 2 });
      expect(page.threadIds).toEqual(['a', 'b']);
      expect((await repo.list({ limit: 2, cursor: page.cursor! })).threadIds).toEqual(['c']);
      await expect(repo.delete('b', { expectedRevision: 7 })).rejects.toThrow(RevisionConflictError);
      expect(await repo.delete('b')).toBe(true);
      expect((await repo.list()).threadIds).toEqual(['a', 'c']);
    });

    it('a writer from before a delete conflicts after the thread is created again, and keeps nothing of the old one', async () => {
      const state = newState();
      const session = await repo.open('d', state);
      for (const line of ['one', 'two', 'three']) {
        state.update(Log, line);
        await session.save();
      }
      const stale = newState();
      const staleSession = await repo.open('d', stale);
      expect(await repo.delete('d')).toBe(true);
      expect(await repo.load('d')).toBeUndefined();
      expect((await repo.list()).threadIds).not.toContain('d');
      expect(await repo.delete('d')).toBe(false);
      const fresh = newState();
      const freshSession = await repo.open('d', fresh);
      for (const line of ['a', 'b', 'c']) {
        fresh.update(Log, line);
        await freshSession.save();
      }
      stale.update(Log, 'late');
      await expect(staleSession.save()).rejects.toThrow(RevisionConflictError);
      expect((await repo.load('d'))?.state.extensions.log).toEqual(['a', 'b', 'c']);
      expect((await repo.history('d')).map((entry) => entry.revision)).toEqual([1, 2, 3]);
      expect((await repo.list()).threadIds).toContain('d');
    });

    it('round-trips a state of about 1 MB', async () => {
      const state = newState();
      const session = await repo.open('big', state);
      const line = 'x'.repeat(1000);
      const batch = state.batch();
      for (let i = 0; i < 1000; i++) batch.update(Log, `${i}:${line}`);
      state.commit(batch);
      await session.save();
      const other = newState();
      await repo.open('big', other);
      expect(other.get(Log)).toHaveLength(1000);
      expect(other.get(Log)[999]).toBe(`999:${line}`);
    });
  },
);

// Where a child process finds the same data. Durable drivers without an entry here are reported, not run.
interface Location {
  location: Record<string, string>;
  open(): DocumentStore;
  cleanup(): Promise<void>;
}
const childLocations: Record<string, () => Promise<Location>> = {
  async sqlite() {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-thread-'));
    const path = join(dir, 'state.db');
    return {
      location: { path },
      open: () => createSqliteStore({ path, busyTimeoutMs: 10_000 }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  async postgres() {
    const schema = uniqueName('as_thread');
    return {
      location: { connectionString: POSTGRES_URL, schema },
      open: () => createPostgresStore({ connectionString: POSTGRES_URL, schema, poolSize: 2 }),
      cleanup: () => dropSchema(schema),
    };
  },
};

const writerScript = fileURLToPath(new URL('./fixtures/threadWriter.ts', import.meta.url));

function startWriter(driver: string, location: Record<string, string>, label: string) {
  const child = spawn(process.execPath, [writerScript, driver, JSON.stringify(location), 'shared', label], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<{ won: boolean }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(stdout.replace(/^ready\n/, '')) as { won: boolean })
        : reject(new Error(`threadWriter exited with ${code}: ${stderr}`)),
    );
  });
  // A child that dies before printing ready fails the test instead of hanging it.
  done.catch(() => {}).finally(onReady);
  return { ready, done, go: () => child.stdin.end('go\n') };
}

describe.each(driverFactories.filter((f) => f.durable).map((f) => [f.name] as [string]))(
  'two processes on %s',
  (name) => {
    it.skipIf(!childLocations[name])(
      `${childLocations[name] ? 'exactly one of two processes committing to the same thread wins' : `(no child-process opener for ${name}; the fs driver allows one process per directory by design)`}`,
      async (context) => {
        if (!available.get(name)) context.skip();
        const where = await childLocations[name]!();
        const documents = where.open();
        try {
          const repo = new ThreadStateRepository(documents);
          const seed = newState();
          const session = await repo.open('shared', seed);
          seed.update(Log, 'seed');
          await session.save();

          const writers = [startWriter(name, where.location, 'p1'), startWriter(name, where.location, 'p2')];
          await Promise.all(writers.map((w) => w.ready));
          for (const w of writers) w.go();
          const outcomes = await Promise.all(writers.map((w) => w.done));
          expect(outcomes.filter((o) => o.won)).toHaveLength(1);
          expect(outcomes.filter((o) => !o.won)).toEqual([{ won: false, code: 'REVISION_CONFLICT' }]);

          const record = await repo.load('shared');
          const winner = outcomes[0]!.won ? 'p1' : 'p2';
          expect(record!.documentRevision).toBe(2);
          expect(record!.state.extensions.log).toEqual(['seed', winner]);
          expect(record!.state.extensions.commits).toBe(1);
        } finally {
          await documents.close();
          await where.cleanup();
        }
      },
    );
  },
);
