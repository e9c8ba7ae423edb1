/**
 * `npm run bench modules`: StateModule serialization and manager persistence.
 *
 * - stateDict()/loadStateDict() of an agent holding 10 000 conversation messages (~1 MB of state).
 * - saveAll()/loadAll() of 1 000 sessions with 10 messages each, on the memory driver and on SQLite.
 *
 * Peer (the floor), measured in the same run and interleaved round by round: a plain JSON round trip of
 * the same data. For stateDict/loadStateDict that is `JSON.parse(JSON.stringify(state))`, the cheapest
 * detached copy there is (stateDict returns a detached, codec-checked copy). For saveAll/loadAll it is
 * `JSON.stringify` / `JSON.parse` of the encoded form the driver stores, i.e. serialization with no
 * validation, no typing, no storage. The ratio says what the extra guarantees cost.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codec } from '../src/codec/index.ts';
import { createMemoryStore } from '../src/drivers/memory.ts';
import { createSqliteStore } from '../src/drivers/sqlite.ts';
import type { DocumentStore } from '../src/drivers/types.ts';
import { AgentStateModule } from '../src/modules/agentState.ts';
import { SessionManager } from '../src/modules/sessionManager.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

const AGENT_MESSAGES = 10_000;
const SESSIONS = 1_000;
const MESSAGES_PER_SESSION = 10;

interface Timing {
  median: number;
  p95: number;
}

function summarize(samples: number[]): Timing {
  return { median: percentile(samples, 50), p95: percentile(samples, 95) };
}

/** Runs `ours` and `peer` alternately (which goes first alternates too), after warm-up rounds. */
async function compare(
  rounds: number,
  ours: () => unknown,
  peer: () => unknown,
): Promise<{ ours: Timing; peer: Timing }> {
  const a: number[] = [];
  const b: number[] = [];
  const warmup = Math.max(2, Math.floor(rounds / 5));
  for (let i = 0; i < warmup + rounds; i++) {
    const order = i % 2 === 0 ? [ours, peer] : [peer, ours];
    for (const fn of order) {
      const start = performance.now();
      await fn();
      const elapsed = performance.now() - start;
      if (i >= warmup) (fn === ours ? a : b).push(elapsed);
    }
  }
  return { ours: summarize(a), peer: summarize(b) };
}

function row(name: string, peerName: string, t: { ours: Timing; peer: Timing }): BenchRow {
  return {
    case: name,
    'ours median ms': round(t.ours.median, 2),
    'ours p95 ms': round(t.ours.p95, 2),
    peer: peerName,
    'peer median ms': round(t.peer.median, 2),
    ratio: `${round(t.ours.median / t.peer.median, 2)}x`,
  };
}

function bigAgent(): AgentStateModule {
  let t = Date.UTC(2026, 0, 1);
  const agent = new AgentStateModule('agent-1', { maxContextMessages: AGENT_MESSAGES, now: () => t++ });
  for (let i = 0; i < AGENT_MESSAGES; i++) {
    agent.addConversationMessage({
      role: i % 2 === 0 ? 'user' : 'assistant',
      content: `message ${i}: the quick brown fox jumps over the lazy dog, then checks the weather`,
      tokens: 17 + (i % 50),
    });
  }
  return agent;
}

function fillSessions(manager: SessionManager): void {
  for (let s = 0; s < SESSIONS; s++) {
    const session = manager.createSession(`session-${s}`, { participants: [`user-${s}`, 'assistant'] });
    session.updateContext('topic', `topic ${s % 20}`);
    for (let m = 0; m < MESSAGES_PER_SESSION; m++) {
      session.addMessage(
        {
          role: m % 2 === 0 ? 'user' : 'assistant',
          content: `session ${s} message ${m}: some ordinary text`,
        },
        m % 2 === 0 ? `user-${s}` : 'assistant',
      );
    }
  }
}

async function persistenceRows(driver: string, store: DocumentStore, rounds: number): Promise<BenchRow[]> {
  const manager = new SessionManager({ store });
  fillSessions(manager);
  const encoded = codec.encode(manager.listSessions().map((s) => s.stateDict()));
  let text = JSON.stringify(encoded);
  const save = await compare(
    rounds,
    () => manager.saveAll(),
    () => {
      text = JSON.stringify(encoded);
    },
  );
  const reader = new SessionManager({ store });
  const load = await compare(
    rounds,
    () => reader.loadAll(),
    () => JSON.parse(text),
  );
  if (reader.sessionIds().length !== SESSIONS) throw new Error('loadAll did not load every session');
  return [
    row(`saveAll 1k sessions (${driver})`, 'JSON.stringify of the same data', save),
    row(`loadAll 1k sessions (${driver})`, 'JSON.parse of the same data', load),
  ];
}

export default async function run(): Promise<void> {
  const rows: BenchRow[] = [];

  const agent = bigAgent();
  const state = agent.stateDict();
  const stateBytes = JSON.stringify(state).length;
  rows.push(
    row(
      `agent.stateDict() 10k messages (${round(stateBytes / 1e6, 1)} MB)`,
      'JSON.parse(JSON.stringify(state))',
      await compare(
        30,
        () => agent.stateDict(),
        () => JSON.parse(JSON.stringify(state)),
      ),
    ),
  );
  const target = bigAgent();
  rows.push(
    row(
      'agent.loadStateDict() 10k messages',
      'JSON.parse(JSON.stringify(state))',
      await compare(
        30,
        () => target.loadStateDict(state),
        () => JSON.parse(JSON.stringify(state)),
      ),
    ),
  );

  const memory = createMemoryStore();
  rows.push(...(await persistenceRows('memory', memory, 15)));
  await memory.close();

  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bench-modules-'));
  const sqlite = createSqliteStore({ path: join(dir, 'state.db') });
  try {
    rows.push(...(await persistenceRows('sqlite', sqlite, 10)));
  } finally {
    await sqlite.close();
    await rm(dir, { recursive: true, force: true });
  }

  await report('modules', rows, {
    agentMessages: AGENT_MESSAGES,
    sessions: SESSIONS,
    messagesPerSession: MESSAGES_PER_SESSION,
    peer: 'plain JSON round trip of the same data, interleaved in the same run',
  });
}
