/**
 * Data for backup and checker tests: documents of every codec type and a rollout store with rollouts in
 * each state, attempts, spans, resources and workers; and full snapshots of both through the public APIs,
 * for comparing a store before and after a backup round trip.
 */
import type { DocumentStore, RolloutStore } from '../../src/index.ts';

/** Namespaces `seedDocuments` writes. */
export const SEEDED_NAMESPACES = ['agents', 'sessions', 'threads'];

/** Writes documents of every codec type, with metadata, TTLs and revisions above 1. */
export async function seedDocuments(store: DocumentStore, sessions = 30): Promise<void> {
  const typed = {
    name: 'planner',
    born: new Date('2026-01-02T03:04:05.006Z'),
    tools: new Map([['search', { calls: 3n }]]),
    tags: new Set(['x', 'y']),
    blob: new Uint8Array([0, 1, 255]),
    nothing: undefined,
    ratio: Number.NaN,
  };
  await store.put('agents', 'a1', typed);
  await store.put('agents', 'a1', { ...typed, version: 2 });
  await store.put('agents', 'a2', { name: 'critic' }, { metadata: { owner: 'team-1' } });
  for (let i = 0; i < sessions; i++) {
    await store.put('sessions', `s${String(i).padStart(4, '0')}`, {
      i,
      participants: ['a1', 'a2'],
      text: 'x'.repeat(i % 50),
    });
  }
  await store.put(
    'threads',
    't1',
    { messages: ['hi', { role: 'tool', at: new Date(0) }] },
    { ttlMs: 3_600_000 },
  );
}

/** Every document of the seeded namespaces: value, metadata and whether it has a TTL. */
export async function documentSnapshot(
  store: DocumentStore,
  namespaces = SEEDED_NAMESPACES,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const ns of namespaces) {
    let cursor: string | undefined;
    do {
      const page = await store.list(ns, { limit: 100, ...(cursor ? { cursor } : {}) });
      for (const doc of page.items) {
        out[`${ns}/${doc.id}`] = {
          value: doc.value,
          metadata: doc.metadata,
          ttl: doc.expiresAt !== undefined,
        };
      }
      cursor = page.cursor;
    } while (cursor);
  }
  return out;
}

/** Rollouts in every state, with attempts, spans, resources and workers. */
export async function seedRollouts(store: RolloutStore, count = 6): Promise<void> {
  const resources = await store.addResources({
    llm: {
      resourceType: 'llm',
      endpoint: 'http://127.0.0.1:1/v1',
      model: 'm',
      samplingParameters: { temperature: 0.5 },
    },
  } as never);
  for (let i = 0; i < count; i++) {
    const started = await store.startRollout(
      {
        input: { task: i, nested: { list: [1, 'two', null] } },
        mode: 'train',
        resourcesId: resources.resourcesId,
        metadata: { i },
      },
      {},
    );
    for (let s = 0; s < 3; s++) {
      await store.addSpan({
        rolloutId: started.rolloutId,
        attemptId: started.attempt.attemptId,
        traceId: `trace-${i}`,
        spanId: `span-${i}-${s}`,
        parentId: s === 0 ? null : `span-${i}-0`,
        name: `step ${s}`,
        attributes: { 'gen_ai.tokens': s * 10, tag: 'a' },
        startTime: 1_700_000_000 + s,
        endTime: 1_700_000_000.5 + s,
        extraField: { kept: true },
      });
    }
    if (i % 3 === 0)
      await store.updateAttempt(started.rolloutId, started.attempt.attemptId, { status: 'succeeded' });
    if (i % 3 === 1)
      await store.updateAttempt(started.rolloutId, started.attempt.attemptId, { status: 'failed' });
  }
  await store.enqueueRollout({ input: 'queued-1' });
  await store.enqueueRollout({ input: 'queued-2', config: { maxAttempts: 3 } });
  await store.updateWorker('worker-1', { heartbeatStats: { gpu: 0.5 } });
}

/** Everything a rollout store holds, through its public API. */
export async function rolloutSnapshot(store: RolloutStore): Promise<Record<string, unknown>> {
  const rollouts = (await store.queryRollouts({ limit: 1000 })).items;
  const attempts: Record<string, unknown> = {};
  const spans: Record<string, unknown> = {};
  for (const r of rollouts) {
    attempts[r.rolloutId] = (await store.queryAttempts(r.rolloutId, { limit: 1000 })).items;
    spans[r.rolloutId] = (await store.querySpans(r.rolloutId, { limit: 1000 })).items;
  }
  const resources = (await store.queryResources({ limit: 1000 })).items;
  const workers = (await store.queryWorkers({ limit: 1000 })).items;
  return { rollouts, attempts, spans, resources, workers, latest: await store.getLatestResources() };
}
