/**
 * Growing state, for `npm run bench state`:
 * - delta thread saves on the long-thread workload (bench/_threadWorkload.ts: 1,000 steps, 50 KB of state
 *   in 10 keys, one key changed per step) against `MemorySaver.put` / `SqliteSaver.put` of the same steps,
 *   with bytes on disk after the run (SQLite);
 * - one item appended to an `appendList` key and the thread saved, at 100, 1,000 and 10,000 items, against a
 *   whole-state put;
 * - a session save (saveAll after one added message) at 100, 1,000 and 10,000 messages, against the full
 *   rewrite that saveAll did before (the session's whole envelope written), both on the SQLite driver;
 * - one message posted over HTTP (Fastify `inject`, the real route and its save) with 10, 1,000 and 10,000
 *   other sessions stored, against writing every session's envelope (what each post did before).
 */
import { join } from 'node:path';
import { MemorySaver } from '@langchain/langgraph-checkpoint';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { createMemoryStore } from '../src/drivers/memory.ts';
import { createSqliteStore } from '../src/drivers/sqlite.ts';
import type { BatchOperation, DocumentStore } from '../src/drivers/types.ts';
import { moduleTypes } from '../src/modules/moduleTypes.ts';
import { SessionManager } from '../src/modules/sessionManager.ts';
import { createServer } from '../src/server/createServer.ts';
import { appendList, lastValue } from '../src/state/helpers.ts';
import type { AnyStateKey } from '../src/state/key.ts';
import { StateStore } from '../src/state/store.ts';
import { ThreadStateRepository } from '../src/state/threadRepository.ts';
import { type BenchRow, percentile, round } from './_report.ts';
import { bytesOnDisk, CHANNELS, channelValue, SaverThread, STEPS, tempDir } from './_threadWorkload.ts';

const PASSES = Number(process.env.BENCH_PASSES ?? 3);

// ---------- delta thread saves ----------

interface Run {
  perSecond: number;
  bytes: number | undefined;
}

async function oursRun(durable: boolean): Promise<Run> {
  const keys = Array.from({ length: CHANNELS }, (_, c) =>
    lastValue<string>({ key: `c${c}`, scope: 'thread', initial: () => channelValue(c, 0) }),
  );
  const { dir, cleanup } = await tempDir('delta-ours');
  const documents: DocumentStore = durable
    ? createSqliteStore({ path: join(dir, 'state.db') })
    : createMemoryStore();
  try {
    const state = new StateStore({ keys: keys as unknown as AnyStateKey[] });
    const session = await new ThreadStateRepository(documents).open('bench', state);
    await session.save();
    const start = performance.now();
    for (let step = 0; step < STEPS; step++) {
      const c = step % CHANNELS;
      state.update(keys[c]!, channelValue(c, step));
      await session.save();
    }
    const perSecond = STEPS / ((performance.now() - start) / 1000);
    await documents.close();
    return { perSecond, bytes: durable ? await bytesOnDisk(dir) : undefined };
  } finally {
    await documents.close().catch(() => undefined);
    await cleanup();
  }
}

async function peerRun(durable: boolean): Promise<Run> {
  const { dir, cleanup } = await tempDir('delta-peer');
  const saver = durable ? SqliteSaver.fromConnString(join(dir, 'checkpoints.db')) : new MemorySaver();
  if (saver instanceof SqliteSaver) {
    saver.db.pragma('journal_mode = WAL');
    saver.db.pragma('synchronous = NORMAL');
  }
  try {
    const thread = new SaverThread(saver);
    await thread.start();
    const start = performance.now();
    for (let step = 0; step < STEPS; step++) await thread.step();
    const perSecond = STEPS / ((performance.now() - start) / 1000);
    if (saver instanceof SqliteSaver) saver.db.close();
    return { perSecond, bytes: durable ? await bytesOnDisk(dir) : undefined };
  } finally {
    if (saver instanceof SqliteSaver && saver.db.open) saver.db.close();
    await cleanup();
  }
}

async function deltaRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const durable of [false, true]) {
    const ours: Run[] = [];
    const peer: Run[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      if (pass % 2 === 0) {
        ours.push(await oursRun(durable));
        peer.push(await peerRun(durable));
      } else {
        peer.push(await peerRun(durable));
        ours.push(await oursRun(durable));
      }
    }
    const perPass = (pick: (r: Run) => number) => ours.map((o, i) => pick(o) / pick(peer[i]!));
    const ratio = (pick: (r: Run) => number) => percentile(perPass(pick), 50);
    // The per-pass ratios too: on a shared machine their spread says how far to trust the median.
    const rates = perPass((r) => r.perSecond).map((r) => round(r, 2));
    console.log(`thread save (${durable ? 'SQLite' : 'memory'}): ours/peer per pass ${rates.join(', ')}`);
    rows.push({
      case: `thread save per step, ${STEPS} steps, 50 KB state, 1 key changed (${durable ? 'SQLite' : 'memory'})`,
      'ours ops/s': round(
        percentile(
          ours.map((r) => r.perSecond),
          50,
        ),
      ),
      peer: durable ? 'SqliteSaver.put (file)' : 'MemorySaver.put',
      'peer ops/s': round(
        percentile(
          peer.map((r) => r.perSecond),
          50,
        ),
      ),
      'ours/peer': `${round(
        ratio((r) => r.perSecond),
        2,
      )}x`,
      ...(durable
        ? {
            'ours MB': round(
              percentile(
                ours.map((r) => r.bytes!),
                50,
              ) / 1e6,
              2,
            ),
            'peer MB': round(
              percentile(
                peer.map((r) => r.bytes!),
                50,
              ) / 1e6,
              2,
            ),
            'bytes ours/peer': `${round(
              ratio((r) => r.bytes!),
              3,
            )}x`,
          }
        : {}),
    });
  }
  return rows;
}

// ---------- a growing appendList key ----------

/** One item appended to an `appendList` key and the thread saved, against a whole-state put. */
// One item appended and the thread saved (commit + ThreadSession.save), at 100, 1,000 and 10,000 items,
// against writing the whole persisted state (what a save did before delta saves), both on SQLite.
export async function appendListRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const Log = appendList<{ role: string; content: string }>({ key: 'bench.log', scope: 'thread' });
  for (const size of [100, 1_000, 10_000]) {
    const { dir, cleanup } = await tempDir('appendlist');
    const documents = createSqliteStore({ path: join(dir, 'state.db') });
    const before = createSqliteStore({ path: join(dir, 'before.db') });
    try {
      const state = new StateStore({ keys: [Log] });
      const session = await new ThreadStateRepository(documents).open('t', state);
      let batch = state.batch();
      for (let i = 0; i < size; i++) batch = batch.update(Log, message(i));
      state.commit(batch);
      await session.save();
      const ours: number[] = [];
      const full: number[] = [];
      for (let i = 0; i < 40; i++) {
        let start = performance.now();
        state.commit(state.batch().update(Log, message(size + i)));
        await session.save();
        ours.push(performance.now() - start);
        start = performance.now();
        await before.put('threads', 't', state.exportPersisted());
        full.push(performance.now() - start);
      }
      const o = percentile(ours.slice(5), 50);
      const f = percentile(full.slice(5), 50);
      rows.push({
        case: `thread commit + save of 1 appended item, appendList of ${size} (SQLite)`,
        'ours median ms': round(o, 3),
        peer: 'whole-state put (before)',
        'peer median ms': round(f, 3),
        'ours/peer time': `${round(o / f, 3)}x`,
      });
    } finally {
      await documents.close();
      await before.close();
      await cleanup();
    }
  }
  return rows;
}

// ---------- sessions ----------

function message(i: number) {
  return { role: i % 2 === 0 ? 'user' : 'assistant', content: `message ${i}: ${'lorem ipsum '.repeat(8)}` };
}

async function sessionSaveRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const size of [100, 1_000, 10_000]) {
    const { dir, cleanup } = await tempDir('sessions');
    const documents = createSqliteStore({ path: join(dir, 'state.db') });
    // The full rewrite goes to its own file, so its large transactions never make ours pay a checkpoint.
    const before = createSqliteStore({ path: join(dir, 'before.db') });
    try {
      const manager = new SessionManager({ store: documents });
      const session = manager.createSession('s');
      for (let i = 0; i < size; i++) session.addMessage(message(i));
      await manager.saveAll();
      const ours: number[] = [];
      const full: number[] = [];
      for (let i = 0; i < 40; i++) {
        session.addMessage(message(size + i));
        let start = performance.now();
        await manager.saveAll();
        ours.push(performance.now() - start);
        // What saveAll did before: the whole envelope, every message included, written again.
        start = performance.now();
        await before.put('sessions', 's', moduleTypes.toEnvelope(session));
        full.push(performance.now() - start);
      }
      const o = percentile(ours.slice(5), 50);
      const f = percentile(full.slice(5), 50);
      rows.push({
        case: `session save after 1 new message, ${size} messages (SQLite)`,
        'ours median ms': round(o, 3),
        peer: 'full rewrite of the session (before)',
        'peer median ms': round(f, 3),
        'ours/peer time': `${round(o / f, 3)}x`,
      });
    } finally {
      await documents.close();
      await before.close();
      await cleanup();
    }
  }
  return rows;
}

async function httpRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const others of [10, 1_000, 10_000]) {
    const { dir, cleanup } = await tempDir('http-sessions');
    const documents = createSqliteStore({ path: join(dir, 'state.db') });
    const before = createSqliteStore({ path: join(dir, 'before.db') });
    const manager = new SessionManager({ store: documents });
    const app = await createServer({ sessions: manager });
    try {
      for (let i = 0; i < others; i++) manager.createSession(`other-${i}`).addMessage(message(i));
      manager.createSession('target');
      await manager.saveAll();
      const ours: number[] = [];
      const full: number[] = [];
      // Ours and the full rewrite run in separate loops: the rewrite allocates every session's envelope,
      // and interleaving would charge its garbage collection to the next post.
      for (let i = 0; i < 40; i++) {
        const start = performance.now();
        const response = await app.inject({
          method: 'POST',
          url: '/v1/sessions/target/messages',
          headers: { 'content-type': 'application/json' },
          payload: { message: message(i), senderId: 'user-1' },
        });
        ours.push(performance.now() - start);
        if (response.statusCode !== 201)
          throw new Error(`post failed: ${response.statusCode} ${response.body}`);
      }
      for (let i = 0; i < 40; i++) {
        // What each post cost before: every session's envelope written in one batch.
        const start = performance.now();
        const operations: BatchOperation[] = manager.listSessions().map((session) => ({
          type: 'put',
          namespace: 'sessions',
          id: session.sessionId,
          value: moduleTypes.toEnvelope(session),
        }));
        await before.batch(operations);
        full.push(performance.now() - start);
      }
      const o = percentile(ours.slice(5), 50);
      const f = percentile(full.slice(5), 50);
      rows.push({
        case: `POST /v1/sessions/:id/messages, ${others} other sessions (SQLite)`,
        'ours median ms': round(o, 3),
        peer: 'write of every session (before)',
        'peer median ms': round(f, 3),
        'ours/peer time': `${round(o / f, 3)}x`,
      });
    } finally {
      await app.close();
      await documents.close();
      await before.close();
      await cleanup();
    }
  }
  return rows;
}

/** Every row of the growing-state section. */
export async function growthRows(): Promise<BenchRow[]> {
  const rows = await deltaRows();
  console.table(rows);
  const lists = await appendListRows();
  console.table(lists);
  const sessions = await sessionSaveRows();
  console.table(sessions);
  const http = await httpRows();
  console.table(http);
  return [...rows, ...lists, ...sessions, ...http];
}
