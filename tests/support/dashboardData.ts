/**
 * A server filled with generated data for the dashboard's browser test: many rollouts (most queued, some
 * finished with a reward span), one rollout with a long trace, runners, sessions with messages, saved
 * agents and threads, documents holding codec types, TTL signals and a held lock, two backups and a
 * consistency check.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentStateManager,
  appendList,
  counter,
  createMemoryStore,
  InMemoryRolloutStore,
  lastValue,
  SessionManager,
  StateStore,
  ThreadStateRepository,
  TtlStore,
} from '../../src/index.ts';
import {
  BackupManager,
  ConsistencyChecker,
  documentStoreSource,
  LatestConsistencyCheck,
} from '../../src/operations/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { historyId } from '../../src/state/threadHistory.ts';

/** Tokens of the generated server: the page needs the reader's, the test writes with the writer's. */
export const READ_TOKEN = 'dashboard-reader-token-0123456789';
/** Write-scoped token for changes made during the test. */
export const WRITE_TOKEN = 'dashboard-writer-token-0123456789';
/** Admin-scoped token, for the Backups page. */
export const ADMIN_TOKEN = 'dashboard-admin-token-0123456789';

/** What the generator made, for the test to look for. */
export interface GeneratedServer {
  /** Base URL, `http://127.0.0.1:<port>`. */
  base: string;
  /** Rollout with `spanCount` spans. */
  bigTraceRolloutId: string;
  /** The attempt of that rollout (to add spans to it). */
  bigTraceAttemptId: string;
  /** Rollout whose input is markup, which must show as text. */
  markupRolloutId: string;
  /** Stops the server and the stores. */
  close(): Promise<void>;
}

const Notes = appendList<string>({ key: 'notes', scope: 'thread' });
const Turns = counter({ key: 'turns', scope: 'thread' });
const Seen = lastValue<Date | null>({ key: 'lastSeen', initial: () => null, scope: 'thread' });

/** Starts a listening server holding `rolloutCount` rollouts and a rollout with `spanCount` spans. */
export async function generatedServer(options: {
  rolloutCount: number;
  spanCount: number;
}): Promise<GeneratedServer> {
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const documents = createMemoryStore();
  const ttl = new TtlStore();
  const sessions = new SessionManager({ store: documents });

  // Finished rollouts with a reward, a few minutes apart, so the charts have a history.
  const now = Date.now() / 1000;
  for (let i = 0; i < 30; i++) {
    const started = await rollouts.startRollout({ input: { task: `rewarded-${i}` } });
    const attemptId = started.attempt.attemptId;
    await rollouts.addSpan({
      rolloutId: started.rolloutId,
      attemptId,
      traceId: `trace-r${i}`,
      spanId: `reward-${i}`,
      name: i % 2 === 0 ? 'reward' : 'agentlightning.annotation',
      attributes: i % 2 === 0 ? { reward: Math.sin(i / 4) + i / 30 } : { 'agentlightning.reward': i / 30 },
      startTime: now - 600 + i * 20,
      endTime: now - 600 + i * 20 + 1,
    });
    await rollouts.updateRollout(started.rolloutId, { status: i % 7 === 3 ? 'failed' : 'succeeded' });
  }
  const big = await rollouts.startRollout({ input: { task: 'long trace' } });
  const spans = [];
  for (let i = 0; i < options.spanCount; i++) {
    spans.push({
      rolloutId: big.rolloutId,
      attemptId: big.attempt.attemptId,
      traceId: 'trace-big',
      spanId: `span-${i}`,
      parentId: i === 0 ? null : `span-${Math.floor((i - 1) / 4)}`,
      name: i % 3 === 0 ? 'llm.call' : 'tool.run',
      attributes: { index: i },
      startTime: now - 300 + i * 0.01,
      endTime: now - 300 + i * 0.01 + 0.5,
    });
  }
  for (let i = 0; i < spans.length; i += 1000) await rollouts.addManySpans(spans.slice(i, i + 1000));
  const markup = await rollouts.enqueueRollout({
    input: '<img src=x onerror="window.__pwned=1"><b>bold</b>',
  });
  for (let i = 0; i < options.rolloutCount; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(options.rolloutCount, i + 1000); j++) batch.push({ input: { n: j } });
    await rollouts.enqueueManyRollouts(batch);
  }
  await rollouts.dequeueRollout({ workerId: 'runner-1' });
  await rollouts.updateWorker('runner-2', {});

  // Sessions, agents, threads, documents, TTL.
  for (let i = 0; i < 5; i++) {
    const session = sessions.createSession(`chat-${i}`, {
      participants: ['alice', `bot-${i}`],
      ...(i % 2 === 0 ? { expiresInMs: 3_600_000 } : {}),
    });
    for (let m = 0; m < 45; m++)
      session.addMessage(
        { role: m % 2 ? 'assistant' : 'user', content: `message ${m}` },
        m % 2 ? `bot-${i}` : 'alice',
      );
  }
  await sessions.saveAll();
  const agents = new AgentStateManager({ store: documents });
  for (let i = 0; i < 4; i++) {
    const agent = agents.createAgent(`agent-${i}`);
    if (i % 2 === 0) agent.startTask(`task-${i}`);
  }
  await agents.saveAll();
  const threads = new ThreadStateRepository(documents);
  for (let i = 0; i < 3; i++) {
    const state = new StateStore({ keys: [Notes, Turns, Seen] });
    const thread = await threads.open(`thread-${i}`, state);
    state.commit(
      state.batch().update(Notes, 'hello').update(Turns, 1).update(Seen, new Date('2026-01-02T03:04:05Z')),
    );
    await thread.save();
    state.commit(state.batch().update(Notes, 'again').update(Turns, 1));
    await thread.save();
  }
  // thread-2's second save as an earlier release wrote it: without the values it replaced, so the
  // Threads page must say revision 1's values are not kept.
  const secondSave = historyId('thread-2', 2);
  const record = await documents.get<Record<string, unknown>>('agentstate.threads.history', secondSave);
  const { undo: _undo, ...earlier } = record!.value;
  await documents.put('agentstate.threads.history', secondSave, earlier);
  await documents.delete('agentstate.threads.replaced', secondSave);
  await documents.put('config', 'typed', {
    limits: new Map([
      ['alpha', 1],
      ['beta', 2],
    ]),
    tags: new Set(['x', 'y']),
    created: new Date('2026-01-01T00:00:00Z'),
    big: 12345678901234567890n,
  });
  await documents.put('config', 'short-lived', { on: true }, { ttlMs: 3_600_000 });
  // Two backups of the documents, and a consistency check over them (a session names a missing agent).
  const backupDir = mkdtempSync(join(tmpdir(), 'agentstate-dashboard-backups-'));
  const namespaces = ['agents', 'sessions', 'config', 'agentstate.threads'];
  const backups = new BackupManager({
    dir: backupDir,
    sources: [documentStoreSource({ store: documents, namespaces })],
  });
  await backups.create({ name: 'nightly-1' });
  await backups.create({ name: 'nightly-2' });
  const checker = new ConsistencyChecker({ store: documents, namespaces, maxFindings: 100 });
  await ttl.set('cooldown:agent-1', { reason: 'rate limit' }, { ttlMs: 600_000 });
  await ttl.set('beacon:runner-1', 'alive', { ttlMs: 300_000 });

  const app = await createServer({
    rollouts,
    documents,
    ttl,
    sessions,
    operations: { backups, consistency: new LatestConsistencyCheck(() => checker.check()) },
    tokens: [
      { token: READ_TOKEN, scope: 'read', name: 'dashboard' },
      { token: WRITE_TOKEN, scope: 'write', name: 'trainer' },
      { token: ADMIN_TOKEN, scope: 'admin', name: 'operator' },
    ],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const base = `http://127.0.0.1:${port}`;
  const lock = await fetch(`${base}/v1/ttl/locks/nightly-export`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ttlMs: 900_000 }),
  });
  if (!lock.ok) throw new Error(`lock: ${lock.status}`);
  return {
    base,
    bigTraceRolloutId: big.rolloutId,
    bigTraceAttemptId: big.attempt.attemptId,
    markupRolloutId: markup.rolloutId,
    close: async () => {
      await app.close();
      sessions.close();
      await Promise.allSettled([rollouts.close(), documents.close(), ttl.close()]);
      rmSync(backupDir, { recursive: true, force: true });
    },
  };
}
