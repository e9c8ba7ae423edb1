/**
 * The shared RolloutStore conformance suite. Every backend must pass it; a backend is one factory entry in
 * tests/rollouts/conformance.test.ts. Time is an injected `ManualClock` (the background timer is off unless
 * a test turns it on), so no test depends on wall-clock speed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AttemptedRollout,
  ReadableSpanLike,
  RolloutQuery,
  RolloutStore,
  RolloutStoreOptions,
  SpanInput,
  SpanQuery,
} from '../../src/index.ts';
import { isAgentStateError } from '../../src/index.ts';
import { MAX_ROLLOUT_ID_LENGTH, MAX_SPAN_NAME_LENGTH } from '../../src/rollouts/normalize.ts';
import { ManualClock } from '../support/clock.ts';

/** A store made for one test. */
export interface RolloutStoreFixture {
  store: RolloutStore;
  /** Closes the store and deletes its data (files, schema). */
  cleanup(): Promise<void>;
  /** A second handle on the same data (another connection), for durable backends. */
  reopen?(options?: RolloutStoreOptions): Promise<RolloutStore>;
}

/** How to make a fresh, isolated store of one backend. */
export interface RolloutStoreFactory {
  /** Backend name, as in `store.name`. */
  name: string;
  /** Whether data outlives the store object. */
  durable: boolean;
  /** False (after a loud warning) when a needed server is missing. */
  available(): Promise<boolean>;
  /** A fresh empty store with these options (the suite passes `now` and `healthCheckIntervalMs`). */
  create(options: RolloutStoreOptions): Promise<RolloutStoreFixture>;
}

const SEC = 1000;

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (isAgentStateError(error)) {
      expect(error.code).toBe(code);
      return;
    }
    throw error;
  }
  throw new Error(`expected an AgentStateError with code ${code}, but the call succeeded`);
}

function span(rollout: AttemptedRollout, spanId: string, extra: Partial<SpanInput> = {}): SpanInput {
  return {
    rolloutId: rollout.rolloutId,
    attemptId: rollout.attempt.attemptId,
    traceId: 'trace-1',
    spanId,
    name: `span-${spanId}`,
    ...extra,
  };
}

function hr(seconds: number): [number, number] {
  return [Math.floor(seconds), Math.round((seconds % 1) * 1e9)];
}

/** Pages of every size of a read in pages: each page non-empty and at most `pageRows` long. */
async function readPages<T>(pages: AsyncIterable<T[]>, pageRows: number): Promise<T[]> {
  const read: T[] = [];
  for await (const page of pages) {
    expect(page.length).toBeGreaterThan(0);
    expect(page.length).toBeLessThanOrEqual(pageRows);
    read.push(...page);
  }
  return read;
}

/**
 * For each query and page size, the read in pages (`iterate`) returns exactly the items of the one-query
 * read (`query`), in the same order.
 */
async function expectPagedReads<Q, T>(
  queries: Q[],
  query: (q: Q) => Promise<{ items: T[] }>,
  iterate: (q: Q, options: { pageRows: number }) => AsyncIterable<T[]>,
): Promise<void> {
  for (const q of queries) {
    const expected = (await query(q)).items;
    for (const pageRows of [1, 4, 1000]) {
      const read = await readPages(iterate(q, { pageRows }), pageRows);
      expect({ q, pageRows, read }).toEqual({ q, pageRows, read: expected });
    }
  }
}

/** Registers the conformance suite for each factory. */
export function rolloutStoreConformance(factories: RolloutStoreFactory[]): void {
  for (const factory of factories) {
    describe(`RolloutStore conformance: ${factory.name}`, async () => {
      const ok = await factory.available();
      describe.skipIf(!ok)(factory.name, () => {
        let clock: ManualClock;
        let fixture: RolloutStoreFixture;
        let store: RolloutStore;
        const extra: RolloutStore[] = [];

        beforeEach(async () => {
          clock = new ManualClock(Date.UTC(2026, 0, 1));
          fixture = await factory.create({ now: clock.now, healthCheckIntervalMs: 0 });
          store = fixture.store;
        });

        afterEach(async () => {
          for (const other of extra.splice(0)) await other.close();
          await fixture.cleanup();
        });

        const nowSeconds = () => clock.time / 1000;

        describe('rollouts and the queue', () => {
          it('enqueues a rollout with reference defaults', async () => {
            const rollout = await store.enqueueRollout({ input: { task: 'add', a: 1 } });
            expect(rollout.rolloutId).toMatch(/^ro-[a-z0-9]{18}$/);
            expect(rollout).toEqual({
              rolloutId: rollout.rolloutId,
              input: { task: 'add', a: 1 },
              startTime: nowSeconds(),
              endTime: null,
              mode: null,
              resourcesId: null,
              status: 'queuing',
              config: { timeoutSeconds: null, unresponsiveSeconds: null, maxAttempts: 1, retryCondition: [] },
              metadata: {},
            });
            expect(await store.getRolloutById(rollout.rolloutId)).toEqual(rollout);
          });

          it('dequeues in FIFO order, creating attempt #1 and marking the rollout preparing', async () => {
            const rollouts = await store.enqueueManyRollouts([
              { input: 1 },
              { input: 2, mode: 'val' },
              { input: 3 },
            ]);
            expect(rollouts.map((r) => r.input)).toEqual([1, 2, 3]);
            clock.advance(5 * SEC);
            const first = await store.dequeueRollout();
            expect(first?.rolloutId).toBe(rollouts[0]!.rolloutId);
            expect(first?.status).toBe('preparing');
            expect(first?.attempt).toEqual({
              rolloutId: rollouts[0]!.rolloutId,
              attemptId: first?.attempt.attemptId,
              sequenceId: 1,
              startTime: nowSeconds(),
              endTime: null,
              status: 'preparing',
              workerId: null,
              lastHeartbeatTime: null,
              metadata: {},
            });
            expect(first?.attempt.attemptId).toMatch(/^at-[a-z0-9]{8}$/);
            const many = await store.dequeueManyRollouts({ limit: 5 });
            expect(many.map((r) => r.input)).toEqual([2, 3]);
            expect(many[0]!.mode).toBe('val');
            expect(await store.dequeueRollout()).toBeNull();
            expect(await store.dequeueManyRollouts({ limit: 3 })).toEqual([]);
          });

          it('starts a rollout directly with attempt #1, outside the queue', async () => {
            const started = await store.startRollout({
              input: 'x',
              mode: 'train',
              workerId: 'w1',
              metadata: { k: 1 },
            });
            expect(started.status).toBe('preparing');
            expect(started.metadata).toEqual({ k: 1 });
            expect(started.attempt.sequenceId).toBe(1);
            expect(started.attempt.workerId).toBe('w1');
            expect(await store.dequeueRollout()).toBeNull();
            expect(await store.getRolloutById(started.rolloutId)).toEqual(started);
          });

          it('refuses bad input with INVALID_INPUT and stores nothing', async () => {
            await expectCode(store.enqueueRollout({ input: 1, config: { maxAttempts: 0 } }), 'INVALID_INPUT');
            await expectCode(
              store.enqueueRollout({ input: 1, config: { maxAttempts: 1.5 } }),
              'INVALID_INPUT',
            );
            await expectCode(
              store.enqueueRollout({ input: 1, config: { retryCondition: ['nope' as 'failed'] } }),
              'INVALID_INPUT',
            );
            await expectCode(store.enqueueRollout({ input: 1, mode: 'prod' as 'train' }), 'INVALID_INPUT');
            await expectCode(store.enqueueRollout({} as { input: unknown }), 'INVALID_INPUT');
            await expectCode(
              store.enqueueManyRollouts([{ input: 1 }, { input: 2, config: { maxAttempts: -1 } }]),
              'INVALID_INPUT',
            );
            await expectCode(store.queryRollouts({ limit: -2 }), 'INVALID_INPUT');
            await expectCode(store.queryRollouts({ sortBy: 'input' as 'status' }), 'INVALID_INPUT');
            expect((await store.queryRollouts()).total).toBe(0);
          });

          it('refuses ids and names no backend can store as given, naming the field, and keeps the longest allowed', async () => {
            const started = await store.startRollout({ input: 1 });
            const { rolloutId } = started;
            const { attemptId } = started.attempt;
            const span = (fields: Partial<SpanInput>): SpanInput => ({
              rolloutId,
              attemptId,
              traceId: 't',
              spanId: 's',
              name: 'n',
              ...fields,
            });
            const field = async (call: Promise<unknown>) => {
              const error = await call.then(
                () => undefined,
                (e: unknown) => e,
              );
              expect(isAgentStateError(error, 'INVALID_INPUT'), String(error)).toBe(true);
              return (error as { details: { field?: string } }).details.field;
            };
            expect(await field(store.getRolloutById('ro-\u0000'))).toBe('rolloutId');
            expect(await field(store.updateWorker('w\u0000', {}))).toBe('workerId');
            expect(await field(store.startRollout({ input: 1, workerId: 'w\ud800' }))).toBe('workerId');
            expect(await field(store.addSpan(span({ spanId: 'x'.repeat(1_000_000) })))).toBe(
              'spans[0].spanId',
            );
            expect(await field(store.addSpan(span({ name: 'a\u0000b' })))).toBe('spans[0].name');
            expect(await field(store.addSpan(span({ traceId: '\udc00' })))).toBe('spans[0].traceId');
            expect(await field(store.addSpan(span({ parentId: 'p\u0000' })))).toBe('spans[0].parentId');
            expect(await field(store.querySpans(rolloutId, { nameContains: '\u0000' }))).toBe('nameContains');
            expect(await field(store.queryRollouts({ rolloutIdIn: ['a\u0000'] }))).toBe('rolloutIdIn[]');
            expect(await field(store.enqueueRollout({ input: 1 }, { idempotencyKey: 'k\u0000' }))).toBe(
              'idempotencyKey',
            );
            expect((await store.querySpans(rolloutId)).total).toBe(0);
            // The longest ids, of three-byte characters, fit every backend's indexes.
            const longest = '\u20ac'.repeat(MAX_ROLLOUT_ID_LENGTH);
            const stored = await store.addSpan(
              span({
                spanId: longest,
                traceId: longest,
                parentId: longest,
                name: 'n'.repeat(MAX_SPAN_NAME_LENGTH),
              }),
            );
            expect(stored?.spanId).toBe(longest);
            expect((await store.updateWorker(longest, {})).workerId).toBe(longest);
            // Values are JSON: NUL and lone surrogates in attributes and inputs are stored and read back.
            await store.addSpan(span({ spanId: 'values', attributes: { text: 'a\u0000b\ud800' } }));
            const [values] = (await store.querySpans(rolloutId, { spanId: 'values' })).items;
            expect(values?.attributes.text).toBe('a\u0000b\ud800');
          });

          it('queries rollouts with filters, logic, sorting and paging', async () => {
            const [a, b, c] = await store.enqueueManyRollouts([
              { input: 'a' },
              { input: 'b' },
              { input: 'c' },
            ]);
            await store.dequeueRollout();
            const all = await store.queryRollouts();
            expect(all.items.map((r) => r.rolloutId)).toEqual([a!.rolloutId, b!.rolloutId, c!.rolloutId]);
            expect(all).toMatchObject({ total: 3, limit: -1, offset: 0 });
            expect('attempt' in all.items[0]!).toBe(true);
            expect('attempt' in all.items[1]!).toBe(false);

            const queuing = await store.queryRollouts({ statusIn: ['queuing'] });
            expect(queuing.items.map((r) => r.rolloutId)).toEqual([b!.rolloutId, c!.rolloutId]);
            const byId = await store.queryRollouts({ rolloutIdIn: [c!.rolloutId, a!.rolloutId] });
            expect(byId.items.map((r) => r.rolloutId)).toEqual([a!.rolloutId, c!.rolloutId]);
            const contains = await store.queryRollouts({ rolloutIdContains: b!.rolloutId.slice(-6) });
            expect(contains.items.map((r) => r.rolloutId)).toEqual([b!.rolloutId]);
            const both = await store.queryRollouts({ statusIn: ['preparing'], rolloutIdIn: [c!.rolloutId] });
            expect(both.total).toBe(0);
            const either = await store.queryRollouts({
              statusIn: ['preparing'],
              rolloutIdIn: [c!.rolloutId],
              filterLogic: 'or',
            });
            expect(either.items.map((r) => r.rolloutId)).toEqual([a!.rolloutId, c!.rolloutId]);

            const page = await store.queryRollouts({ limit: 1, offset: 1 });
            expect(page.items.map((r) => r.rolloutId)).toEqual([b!.rolloutId]);
            expect(page).toMatchObject({ total: 3, limit: 1, offset: 1 });
            const desc = await store.queryRollouts({ sortOrder: 'desc' });
            expect(desc.items.map((r) => r.rolloutId)).toEqual([c!.rolloutId, b!.rolloutId, a!.rolloutId]);
            const byStatus = await store.queryRollouts({ sortBy: 'status' });
            expect(byStatus.items.map((r) => r.status)).toEqual(['preparing', 'queuing', 'queuing']);
            const sortedIds = [a!, b!, c!].map((r) => r.rolloutId).sort();
            const byRolloutId = await store.queryRollouts({ sortBy: 'rolloutId', sortOrder: 'desc' });
            expect(byRolloutId.items.map((r) => r.rolloutId)).toEqual(sortedIds.reverse());
          });

          it('iterateRollouts reads in pages exactly the items of queryRollouts, in every order', async () => {
            const iterate = store.iterateRollouts?.bind(store);
            // Stores over HTTP read with queryRollouts only.
            if (iterate === undefined) return;
            // Ties and NULLs in every sort column: equal start times, modes and resources ids left null
            // for some, end times only on the finished ones.
            for (let i = 0; i < 23; i++) {
              if (i % 4 === 0) clock.advance(SEC);
              await store.enqueueRollout({
                input: i,
                ...(i % 3 === 0 ? {} : { mode: i % 2 === 0 ? 'train' : 'val' }),
                ...(i % 5 === 0 ? {} : { resourcesId: `res-${i % 4}` }),
              });
            }
            for (let i = 0; i < 9; i++) {
              const taken = await store.dequeueRollout();
              clock.advance(i % 2 === 0 ? 0 : SEC);
              if (i % 3 === 0) await store.updateRollout(taken!.rolloutId, { status: 'succeeded' });
            }
            const fields = ['rolloutId', 'startTime', 'endTime', 'status', 'mode', 'resourcesId'] as const;
            const queries: RolloutQuery[] = [
              {},
              { sortOrder: 'desc' },
              { offset: 5 },
              { limit: 7, offset: 3 },
              { limit: 0 },
              { statusIn: ['queuing'], sortOrder: 'desc' },
              { statusIn: ['succeeded'], rolloutIdContains: 'ro-', filterLogic: 'or', offset: 2 },
              ...fields.flatMap((sortBy) => [
                { sortBy },
                { sortBy, sortOrder: 'desc' as const },
                { sortBy, offset: 6, limit: 11 },
              ]),
            ];
            for (const query of queries) {
              const expected = (await store.queryRollouts(query)).items;
              for (const pageRows of [1, 4, 1000]) {
                const read: unknown[] = [];
                for await (const page of iterate(query, { pageRows })) {
                  expect(page.length).toBeGreaterThan(0);
                  expect(page.length).toBeLessThanOrEqual(pageRows);
                  read.push(...page);
                }
                expect({ query, pageRows, read }).toEqual({ query, pageRows, read: expected });
              }
            }
            await expectCode(
              (async () => {
                for await (const _ of iterate({}, { pageRows: 0 })) break;
              })(),
              'INVALID_INPUT',
            );
          });

          it('updates rollout fields; finished statuses set endTime; queuing puts it back in the queue', async () => {
            const rollout = await store.enqueueRollout({ input: 1 });
            const dequeued = await store.dequeueRollout();
            expect(dequeued?.rolloutId).toBe(rollout.rolloutId);
            const updated = await store.updateRollout(rollout.rolloutId, {
              input: { changed: true },
              mode: 'test',
              metadata: { note: 'x' },
              config: { maxAttempts: 3, retryCondition: ['failed'] },
            });
            expect(updated).toMatchObject({
              input: { changed: true },
              mode: 'test',
              metadata: { note: 'x' },
              config: {
                maxAttempts: 3,
                retryCondition: ['failed'],
                timeoutSeconds: null,
                unresponsiveSeconds: null,
              },
              status: 'preparing',
            });
            const requeued = await store.updateRollout(rollout.rolloutId, { status: 'queuing' });
            expect(requeued.status).toBe('queuing');
            const again = await store.dequeueRollout();
            expect(again?.rolloutId).toBe(rollout.rolloutId);
            expect(again?.attempt.sequenceId).toBe(2);
            clock.advance(3 * SEC);
            const done = await store.updateRollout(rollout.rolloutId, { status: 'succeeded' });
            expect(done.endTime).toBe(nowSeconds());
            await expectCode(store.updateRollout('ro-missing', { status: 'failed' }), 'NOT_FOUND');
            await expectCode(
              store.updateRollout(rollout.rolloutId, { status: 'bogus' as 'failed' }),
              'INVALID_INPUT',
            );
          });

          it('keeps omitted fields, clears nullable ones given as null, refuses null status and config', async () => {
            const rollout = await store.enqueueRollout({
              input: 'kept',
              mode: 'train',
              resourcesId: 'rs-pinned',
              metadata: { note: 'x' },
              config: { maxAttempts: 2 },
            });
            expect(await store.updateRollout(rollout.rolloutId, {})).toMatchObject({
              input: 'kept',
              mode: 'train',
              resourcesId: 'rs-pinned',
              metadata: { note: 'x' },
              config: { maxAttempts: 2 },
              status: 'queuing',
            });
            for (const field of ['status', 'config'] as const) {
              await expectCode(store.updateRollout(rollout.rolloutId, { [field]: null }), 'INVALID_INPUT');
            }
            const cleared = await store.updateRollout(rollout.rolloutId, {
              input: null,
              mode: null,
              resourcesId: null,
              metadata: null,
            });
            expect(cleared).toMatchObject({ input: null, mode: null, resourcesId: null, metadata: null });
            expect(cleared.config.maxAttempts).toBe(2);
            expect(cleared.status).toBe('queuing');
          });

          it('sends a requeued rollout to the back of the queue', async () => {
            const [a, b] = await store.enqueueManyRollouts([
              { input: 'a', config: { maxAttempts: 2, retryCondition: ['failed'] } },
              { input: 'b' },
            ]);
            // Started by hand, `a` leaves the queue; its retry must queue behind everything queued since.
            await store.startAttempt(a!.rolloutId);
            const c = await store.enqueueRollout({ input: 'c' });
            await store.updateAttempt(a!.rolloutId, 'latest', { status: 'failed' });
            const order = await store.dequeueManyRollouts({ limit: 5 });
            expect(order.map((r) => r.rolloutId)).toEqual([b!.rolloutId, c.rolloutId, a!.rolloutId]);
          });

          it('skips a queued rollout that was cancelled, and keeps it cancelled whatever its attempt reports', async () => {
            const [a, b] = await store.enqueueManyRollouts([{ input: 'a' }, { input: 'b' }]);
            await store.updateRollout(a!.rolloutId, { status: 'cancelled' });
            const next = await store.dequeueRollout();
            expect(next?.rolloutId).toBe(b!.rolloutId);
            await store.updateRollout(b!.rolloutId, { status: 'cancelled' });
            await store.updateAttempt(b!.rolloutId, 'latest', { status: 'succeeded' });
            expect((await store.getRolloutById(b!.rolloutId))?.status).toBe('cancelled');
          });
        });

        describe('attempts and status propagation', () => {
          it('treats a span as a heartbeat: attempt and rollout become running', async () => {
            await store.enqueueRollout({ input: 1 });
            const rollout = (await store.dequeueRollout())!;
            clock.advance(2 * SEC);
            await store.addSpan(span(rollout, 's1'));
            const latest = await store.getLatestAttempt(rollout.rolloutId);
            expect(latest?.status).toBe('running');
            expect(latest?.lastHeartbeatTime).toBe(nowSeconds());
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('running');
          });

          it('propagates succeeded from the latest attempt and sets end times', async () => {
            await store.enqueueRollout({ input: 1 });
            const rollout = (await store.dequeueRollout())!;
            clock.advance(4 * SEC);
            const attempt = await store.updateAttempt(rollout.rolloutId, 'latest', {
              status: 'succeeded',
              metadata: { reward: 1 },
            });
            expect(attempt).toMatchObject({
              status: 'succeeded',
              endTime: nowSeconds(),
              metadata: { reward: 1 },
            });
            const after = await store.getRolloutById(rollout.rolloutId);
            expect(after).toMatchObject({ status: 'succeeded', endTime: nowSeconds() });
            expect((after as AttemptedRollout).attempt.status).toBe('succeeded');
          });

          it('requeues a failed attempt while retryCondition allows and attempts remain, then fails', async () => {
            const rollout = await store.enqueueRollout({
              input: 1,
              config: { maxAttempts: 2, retryCondition: ['failed'] },
            });
            const first = (await store.dequeueRollout())!;
            await store.updateAttempt(rollout.rolloutId, first.attempt.attemptId, { status: 'failed' });
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('requeuing');
            const second = (await store.dequeueRollout())!;
            expect(second.rolloutId).toBe(rollout.rolloutId);
            expect(second.attempt.sequenceId).toBe(2);
            expect(second.attempt.attemptId).not.toBe(first.attempt.attemptId);
            await store.updateAttempt(rollout.rolloutId, 'latest', { status: 'failed' });
            const final = await store.getRolloutById(rollout.rolloutId);
            expect(final?.status).toBe('failed');
            expect(final?.endTime).toBe(nowSeconds());
            expect(await store.dequeueRollout()).toBeNull();
            const attempts = await store.queryAttempts(rollout.rolloutId);
            expect(attempts.items.map((a) => [a.sequenceId, a.status])).toEqual([
              [1, 'failed'],
              [2, 'failed'],
            ]);
            expect(attempts.total).toBe(2);
            const desc = await store.queryAttempts(rollout.rolloutId, { sortOrder: 'desc', limit: 1 });
            expect(desc.items.map((a) => a.sequenceId)).toEqual([2]);
          });

          it('fails at once when the status is not in retryCondition', async () => {
            const rollout = await store.enqueueRollout({
              input: 1,
              config: { maxAttempts: 5, retryCondition: ['timeout'] },
            });
            await store.dequeueRollout();
            await store.updateAttempt(rollout.rolloutId, 'latest', { status: 'failed' });
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('failed');
          });

          it('starts attempts by hand and only the latest attempt drives the rollout', async () => {
            const started = await store.startRollout({ input: 1 });
            const second = await store.startAttempt(started.rolloutId, { workerId: 'w2' });
            expect(second.attempt.sequenceId).toBe(2);
            expect(second.attempt.workerId).toBe('w2');
            expect(second.status).toBe('preparing');
            await store.updateAttempt(started.rolloutId, started.attempt.attemptId, { status: 'succeeded' });
            expect((await store.getRolloutById(started.rolloutId))?.status).toBe('preparing');
            expect((await store.getLatestAttempt(started.rolloutId))?.attemptId).toBe(
              second.attempt.attemptId,
            );
            await expectCode(store.startAttempt('ro-missing'), 'NOT_FOUND');
            await expectCode(
              store.updateAttempt(started.rolloutId, 'at-missing', { status: 'failed' }),
              'NOT_FOUND',
            );
            await expectCode(
              store.updateAttempt(started.rolloutId, 'latest', { status: 'done' as 'failed' }),
              'INVALID_INPUT',
            );
            expect(await store.getLatestAttempt('ro-missing')).toBeNull();
          });
        });

        describe('health checks', () => {
          it('marks an attempt timeout by its start time and fails or requeues the rollout', async () => {
            const noRetry = await store.enqueueRollout({ input: 1, config: { timeoutSeconds: 10 } });
            const retry = await store.enqueueRollout({
              input: 2,
              config: { timeoutSeconds: 10, maxAttempts: 2, retryCondition: ['timeout'] },
            });
            await store.dequeueManyRollouts({ limit: 2, workerId: 'w1' });
            clock.advance(5 * SEC);
            await store.addSpan({
              ...span((await store.getRolloutById(noRetry.rolloutId)) as AttemptedRollout, 'a'),
            });
            clock.advance(5 * SEC);
            expect((await store.getLatestAttempt(noRetry.rolloutId))?.status).toBe('running');
            clock.advance(1 * SEC);
            expect((await store.getLatestAttempt(noRetry.rolloutId))?.status).toBe('timeout');
            expect((await store.getRolloutById(noRetry.rolloutId))?.status).toBe('failed');
            expect((await store.getRolloutById(retry.rolloutId))?.status).toBe('requeuing');
            const again = await store.dequeueRollout();
            expect(again?.rolloutId).toBe(retry.rolloutId);
            expect(again?.attempt.sequenceId).toBe(2);
          });

          it('never lets a later span overwrite timeout', async () => {
            await store.enqueueRollout({ input: 1, config: { timeoutSeconds: 1 } });
            const rollout = (await store.dequeueRollout())!;
            clock.advance(2 * SEC);
            await store.runHealthCheck();
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('timeout');
            clock.advance(1 * SEC);
            expect(await store.addSpan(span(rollout, 'late'))).not.toBeNull();
            const attempt = await store.getLatestAttempt(rollout.rolloutId);
            expect(attempt?.status).toBe('timeout');
            expect(attempt?.lastHeartbeatTime).toBe(nowSeconds());
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('failed');
          });

          it('marks an attempt unresponsive by its last heartbeat; a new span revives it', async () => {
            const rollout = await store.enqueueRollout({
              input: 1,
              config: { unresponsiveSeconds: 5, maxAttempts: 3, retryCondition: ['unresponsive'] },
            });
            const running = (await store.dequeueRollout())!;
            for (let i = 0; i < 3; i++) {
              clock.advance(4 * SEC);
              await store.addSpan(span(running, `hb-${i}`));
            }
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('running');
            clock.advance(6 * SEC);
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('unresponsive');
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('requeuing');
            await store.addSpan(span(running, 'back'));
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('running');
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('running');
            // Back to running, it left the queue.
            expect(await store.dequeueRollout()).toBeNull();
          });

          it('marks an attempt without any heartbeat unresponsive, counted from its start', async () => {
            const rollout = await store.enqueueRollout({ input: 1, config: { unresponsiveSeconds: 3 } });
            await store.dequeueRollout();
            clock.advance(3 * SEC);
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('preparing');
            clock.advance(1 * SEC);
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('unresponsive');
            expect((await store.getRolloutById(rollout.rolloutId))?.status).toBe('failed');
          });

          it('follows a new config: a later timeout applies to the running attempt', async () => {
            const rollout = await store.enqueueRollout({ input: 1 });
            await store.dequeueRollout();
            clock.advance(100 * SEC);
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('preparing');
            await store.updateRollout(rollout.rolloutId, { config: { timeoutSeconds: 50 } });
            expect((await store.getLatestAttempt(rollout.rolloutId))?.status).toBe('timeout');
          });

          it('runs on its own timer, so nobody has to read for a timeout to be noticed', async () => {
            const timed = await factory.create({ now: clock.now, healthCheckIntervalMs: 5 });
            try {
              const rollout = await timed.store.enqueueRollout({ input: 1, config: { timeoutSeconds: 1 } });
              await timed.store.dequeueRollout();
              const wait = timed.store.waitForRollouts({
                rolloutIds: [rollout.rolloutId],
                timeoutMs: 10_000,
              });
              // Only the background timer can notice this: the wait registered before the clock moved.
              clock.advance(2 * SEC);
              const [done] = await wait;
              expect(done?.status).toBe('failed');
            } finally {
              await timed.cleanup();
            }
          });
        });

        describe('spans', () => {
          it('issues strictly increasing sequence ids per rollout and assigns missing ones', async () => {
            const a = await store.startRollout({ input: 'a' });
            const b = await store.startRollout({ input: 'b' });
            expect(await store.getNextSpanSequenceId(a.rolloutId, a.attempt.attemptId)).toBe(1);
            expect(await store.getNextSpanSequenceId(a.rolloutId, a.attempt.attemptId)).toBe(2);
            expect(await store.getNextSpanSequenceId(b.rolloutId, b.attempt.attemptId)).toBe(1);
            const s = await store.addSpan(span(a, 's1'));
            expect(s?.sequenceId).toBe(3);
            await store.addSpan(span(a, 's2', { sequenceId: 10 }));
            expect(await store.getNextSpanSequenceId(a.rolloutId, a.attempt.attemptId)).toBe(11);
            const result = await store.addManySpans([span(a, 'm1'), span(a, 'm2'), span(b, 'm1')]);
            expect(result).toEqual({ inserted: 3, duplicates: 0, duplicateSpans: [] });
            const spans = await store.querySpans(a.rolloutId);
            expect(spans.items.map((x) => [x.spanId, x.sequenceId])).toEqual([
              ['s1', 3],
              ['s2', 10],
              ['m1', 12],
              ['m2', 13],
            ]);
          });

          it('issues sequence ids for a rollout it does not hold, as the reference does; retention drops their counters', async () => {
            expect(await store.getNextSpanSequenceId('ro-elsewhere', 'at-x')).toBe(1);
            expect(await store.getNextSpanSequenceId('ro-elsewhere', 'at-y')).toBe(2);
            const orphan = {
              rolloutId: 'ro-elsewhere',
              attemptId: 'at-x',
              traceId: 't',
              spanId: 's',
              name: 'n',
            };
            await expectCode(store.addSpan(orphan), 'NOT_FOUND');
            // Retention drops the counters of ids no rollout has, and keeps those of live rollouts.
            const live = await store.startRollout({ input: 'live' });
            expect(await store.getNextSpanSequenceId(live.rolloutId, live.attempt.attemptId)).toBe(1);
            await store.pruneFinished({ olderThanMs: 0 });
            expect(await store.getNextSpanSequenceId('ro-elsewhere', 'at-x')).toBe(1);
            expect(await store.getNextSpanSequenceId(live.rolloutId, live.attempt.attemptId)).toBe(2);
          });

          it('ignores and reports duplicate spans (same rollout, attempt and spanId)', async () => {
            const r = await store.startRollout({ input: 1 });
            expect(await store.addSpan(span(r, 'dup'))).not.toBeNull();
            expect(await store.addSpan(span(r, 'dup', { name: 'other' }))).toBeNull();
            const result = await store.addManySpans([span(r, 'dup'), span(r, 'new'), span(r, 'new')]);
            expect(result.inserted).toBe(1);
            expect(result.duplicates).toBe(2);
            expect(result.duplicateSpans).toEqual([
              { rolloutId: r.rolloutId, attemptId: r.attempt.attemptId, spanId: 'dup' },
              { rolloutId: r.rolloutId, attemptId: r.attempt.attemptId, spanId: 'new' },
            ]);
            const second = await store.startAttempt(r.rolloutId);
            expect(await store.addSpan(span(second, 'dup'))).not.toBeNull();
            const all = await store.querySpans(r.rolloutId);
            expect(all.total).toBe(3);
            expect(all.items.find((s) => s.spanId === 'dup')?.name).toBe('span-dup');
          });

          it('stores nothing of a batch naming an unknown rollout or attempt', async () => {
            const r = await store.startRollout({ input: 1 });
            await expectCode(
              store.addManySpans([span(r, 'ok'), { ...span(r, 'bad'), attemptId: 'at-nope' }]),
              'NOT_FOUND',
            );
            await expectCode(store.addSpan({ ...span(r, 'x'), rolloutId: 'ro-nope' }), 'NOT_FOUND');
            await expectCode(store.addSpan({ ...span(r, 'x'), spanId: '' }), 'INVALID_INPUT');
            expect((await store.querySpans(r.rolloutId)).total).toBe(0);
          });

          it('keeps fields the model does not name and fills defaults', async () => {
            const r = await store.startRollout({ input: 1 });
            const stored = await store.addSpan({
              ...span(r, 'x'),
              attributes: { 'gen_ai.prompt': 'hi', n: 3, list: [1, 2] },
              customField: { nested: true },
            });
            expect(stored).toMatchObject({
              parentId: null,
              status: { statusCode: 'UNSET' },
              events: [],
              links: [],
              startTime: null,
              endTime: null,
              context: null,
              parent: null,
              resource: { attributes: {}, schemaUrl: '' },
              customField: { nested: true },
            });
            const [read] = (await store.querySpans(r.rolloutId)).items;
            expect(read).toEqual(stored);
          });

          it('queries spans by attempt (or latest), exact and contains filters, logic, sort and paging', async () => {
            const r = await store.startRollout({ input: 1 });
            await store.addManySpans([
              span(r, 'a1', { name: 'llm.call', parentId: null, traceId: 't-1' }),
              span(r, 'a2', { name: 'tool.search', parentId: 'a1', traceId: 't-1' }),
              span(r, 'a3', { name: 'llm.call', parentId: 'a1', traceId: 't-2' }),
            ]);
            const second = await store.startAttempt(r.rolloutId);
            await store.addSpan(span(second, 'b1', { name: 'reward', traceId: 't-3' }));

            expect((await store.querySpans(r.rolloutId)).total).toBe(4);
            const first = await store.querySpans(r.rolloutId, { attemptId: r.attempt.attemptId });
            expect(first.items.map((s) => s.spanId)).toEqual(['a1', 'a2', 'a3']);
            const latest = await store.querySpans(r.rolloutId, { attemptId: 'latest' });
            expect(latest.items.map((s) => s.spanId)).toEqual(['b1']);
            const named = await store.querySpans(r.rolloutId, { name: 'llm.call' });
            expect(named.items.map((s) => s.spanId)).toEqual(['a1', 'a3']);
            const contains = await store.querySpans(r.rolloutId, { nameContains: 'search' });
            expect(contains.items.map((s) => s.spanId)).toEqual(['a2']);
            const parent = await store.querySpans(r.rolloutId, { parentId: 'a1', traceId: 't-2' });
            expect(parent.items.map((s) => s.spanId)).toEqual(['a3']);
            const or = await store.querySpans(r.rolloutId, {
              parentId: 'a1',
              traceId: 't-3',
              filterLogic: 'or',
            });
            expect(or.items.map((s) => s.spanId)).toEqual(['a2', 'a3', 'b1']);
            const traceContains = await store.querySpans(r.rolloutId, {
              traceIdContains: '-1',
              attemptId: 'latest',
            });
            expect(traceContains.total).toBe(0);
            const page = await store.querySpans(r.rolloutId, { sortOrder: 'desc', limit: 2, offset: 1 });
            expect(page.items.map((s) => s.spanId)).toEqual(['a3', 'a2']);
            expect(page.total).toBe(4);
            const byName = await store.querySpans(r.rolloutId, { sortBy: 'name' });
            expect(byName.items.map((s) => s.name)).toEqual([
              'llm.call',
              'llm.call',
              'reward',
              'tool.search',
            ]);
            const none = await store.startRollout({ input: 2 });
            expect((await store.querySpans(none.rolloutId, { attemptId: 'latest' })).total).toBe(0);
            expect((await store.querySpans('ro-unknown')).total).toBe(0);
          });

          it('converts an OpenTelemetry ReadableSpan', async () => {
            const r = await store.startRollout({ input: 1 });
            const otel: ReadableSpanLike = {
              name: 'openai.chat',
              spanContext: () => ({
                traceId: 'a'.repeat(32),
                spanId: 'b'.repeat(16),
                traceFlags: 1,
                isRemote: false,
                traceState: { serialize: () => 'vendor=x' },
              }),
              parentSpanContext: { traceId: 'a'.repeat(32), spanId: 'c'.repeat(16), isRemote: false },
              startTime: hr(1767225600.5),
              endTime: hr(1767225601.25),
              status: { code: 2, message: 'boom' },
              attributes: { 'gen_ai.usage.input_tokens': 12, skipped: undefined },
              events: [
                { name: 'exception', attributes: { 'exception.type': 'Error' }, time: hr(1767225601) },
              ],
              links: [
                {
                  context: { traceId: 'd'.repeat(32), spanId: 'e'.repeat(16) },
                  attributes: { why: 'retry' },
                },
              ],
              resource: { attributes: { 'service.name': 'runner' } },
            };
            const stored = await store.addOtelSpan(r.rolloutId, r.attempt.attemptId, otel);
            expect(stored).toMatchObject({
              rolloutId: r.rolloutId,
              attemptId: r.attempt.attemptId,
              sequenceId: 1,
              traceId: 'a'.repeat(32),
              spanId: 'b'.repeat(16),
              parentId: 'c'.repeat(16),
              name: 'openai.chat',
              status: { statusCode: 'ERROR', description: 'boom' },
              attributes: { 'gen_ai.usage.input_tokens': 12 },
              startTime: 1767225600.5,
              endTime: 1767225601.25,
              context: {
                traceId: 'a'.repeat(32),
                spanId: 'b'.repeat(16),
                isRemote: false,
                traceState: { vendor: 'x' },
              },
              parent: { spanId: 'c'.repeat(16) },
              resource: { attributes: { 'service.name': 'runner' }, schemaUrl: '' },
            });
            expect(stored?.events).toEqual([
              { name: 'exception', attributes: { 'exception.type': 'Error' }, timestamp: 1767225601 },
            ]);
            expect(stored?.links[0]?.context.spanId).toBe('e'.repeat(16));
            expect(await store.addOtelSpan(r.rolloutId, r.attempt.attemptId, otel)).toBeNull();
            const pinned = await store.addOtelSpan(
              r.rolloutId,
              r.attempt.attemptId,
              { ...otel, spanContext: () => ({ traceId: 't', spanId: 'z' }) },
              { sequenceId: 7 },
            );
            expect(pinned?.sequenceId).toBe(7);
            expect((await store.getLatestAttempt(r.rolloutId))?.status).toBe('running');
          });
        });

        describe('resources', () => {
          const llm = { resourceType: 'llm' as const, endpoint: 'http://127.0.0.1:8000/v1', model: 'qwen' };

          it('adds, updates, finds and pins resources', async () => {
            expect(await store.getLatestResources()).toBeNull();
            const early = await store.enqueueRollout({ input: 0 });
            expect(early.resourcesId).toBeNull();
            const first = await store.addResources({ main: llm });
            expect(first).toEqual({
              resourcesId: first.resourcesId,
              createTime: nowSeconds(),
              updateTime: nowSeconds(),
              version: 1,
              resources: { main: llm },
            });
            expect(first.resourcesId).toMatch(/^rs-[a-z0-9]{12}$/);
            const pinned = await store.enqueueRollout({ input: 1 });
            expect(pinned.resourcesId).toBe(first.resourcesId);
            clock.advance(SEC);
            const second = await store.addResources({
              prompt: { resourceType: 'prompt_template', template: 'Hi {name}', engine: 'f-string' },
            });
            expect((await store.getLatestResources())?.resourcesId).toBe(second.resourcesId);
            expect((await store.getRolloutById(pinned.rolloutId))?.resourcesId).toBe(first.resourcesId);
            clock.advance(SEC);
            const updated = await store.updateResources(first.resourcesId, {
              main: { ...llm, model: 'qwen2' },
            });
            expect(updated).toMatchObject({
              version: 2,
              createTime: first.createTime,
              updateTime: nowSeconds(),
            });
            expect((await store.getLatestResources())?.resourcesId).toBe(first.resourcesId);
            expect((await store.getResourcesById(first.resourcesId))?.resources.main).toMatchObject({
              model: 'qwen2',
            });
            expect(await store.getResourcesById('rs-missing')).toBeNull();
            const named = await store.updateResources('rs-custom', { main: llm });
            expect(named).toMatchObject({ resourcesId: 'rs-custom', version: 1 });
            const explicit = await store.enqueueRollout({ input: 2, resourcesId: second.resourcesId });
            expect(explicit.resourcesId).toBe(second.resourcesId);
            const all = await store.queryResources();
            expect(all.items.map((r) => r.resourcesId)).toEqual([
              first.resourcesId,
              second.resourcesId,
              'rs-custom',
            ]);
            expect((await store.queryResources({ resourcesId: 'rs-custom' })).total).toBe(1);
            expect((await store.queryResources({ resourcesIdContains: 'custom' })).total).toBe(1);
            const byVersion = await store.queryResources({ sortBy: 'version', sortOrder: 'desc', limit: 1 });
            expect(byVersion.items[0]?.resourcesId).toBe(first.resourcesId);
          });

          it('breaks updateTime ties by the last write', async () => {
            const a = await store.addResources({ main: llm });
            const b = await store.addResources({ main: llm });
            expect((await store.getLatestResources())?.resourcesId).toBe(b.resourcesId);
            await store.updateResources(a.resourcesId, { main: llm });
            expect((await store.getLatestResources())?.resourcesId).toBe(a.resourcesId);
          });

          it('keeps a resources id that names no resources yet, as given, until they are added', async () => {
            const queued = await store.enqueueRollout({ input: 1, resourcesId: 'rs-later' });
            expect(queued.resourcesId).toBe('rs-later');
            const started = await store.startRollout({ input: 2, resourcesId: 'rs-own-id' });
            expect(started.resourcesId).toBe('rs-own-id');
            const moved = await store.updateRollout(queued.rolloutId, { resourcesId: 'rs-elsewhere' });
            expect(moved.resourcesId).toBe('rs-elsewhere');
            expect(await store.getResourcesById('rs-elsewhere')).toBeNull();
            await store.updateResources('rs-elsewhere', { main: llm });
            expect((await store.getRolloutById(queued.rolloutId))?.resourcesId).toBe('rs-elsewhere');
            expect((await store.getResourcesById('rs-elsewhere'))?.version).toBe(1);
          });

          it('refuses malformed resources', async () => {
            await expectCode(store.addResources({ main: { resourceType: 'gpu' } as never }), 'INVALID_INPUT');
            await expectCode(store.addResources('x' as never), 'INVALID_INPUT');
          });
        });

        describe('workers', () => {
          it('tracks worker status through dequeue, attempts and heartbeats', async () => {
            expect(await store.getWorkerById('w1')).toBeNull();
            const empty = await store.dequeueRollout({ workerId: 'w1' });
            expect(empty).toBeNull();
            expect(await store.getWorkerById('w1')).toMatchObject({
              status: 'idle',
              lastDequeueTime: nowSeconds(),
              lastIdleTime: nowSeconds(),
            });
            await store.enqueueRollout({ input: 1 });
            clock.advance(SEC);
            const r = (await store.dequeueRollout({ workerId: 'w1' }))!;
            expect(r.attempt.workerId).toBe('w1');
            expect(await store.getWorkerById('w1')).toMatchObject({
              status: 'busy',
              lastBusyTime: nowSeconds(),
              lastDequeueTime: nowSeconds(),
              currentRolloutId: r.rolloutId,
              currentAttemptId: r.attempt.attemptId,
            });
            clock.advance(SEC);
            await store.updateAttempt(r.rolloutId, 'latest', { status: 'succeeded' });
            expect(await store.getWorkerById('w1')).toMatchObject({
              status: 'idle',
              lastIdleTime: nowSeconds(),
              currentRolloutId: null,
              currentAttemptId: null,
            });
            const hb = await store.updateWorker('w1', { heartbeatStats: { gpu: 0.5 } });
            expect(hb).toMatchObject({
              workerId: 'w1',
              heartbeatStats: { gpu: 0.5 },
              lastHeartbeatTime: nowSeconds(),
            });
            await store.updateWorker('w2');
            const workers = await store.queryWorkers();
            expect(workers.items.map((w) => w.workerId)).toEqual(['w1', 'w2']);
            expect((await store.queryWorkers({ statusIn: ['idle'] })).items.map((w) => w.workerId)).toEqual([
              'w1',
            ]);
            expect((await store.queryWorkers({ workerIdContains: '2' })).total).toBe(1);
            const either = await store.queryWorkers({
              statusIn: ['idle'],
              workerIdContains: '2',
              filterLogic: 'or',
            });
            expect(either.total).toBe(2);
            await expectCode(store.queryWorkers({ statusIn: ['asleep' as 'idle'] }), 'INVALID_INPUT');
          });

          it('marks the worker unknown when its attempt times out', async () => {
            await store.enqueueRollout({ input: 1, config: { timeoutSeconds: 1 } });
            await store.dequeueRollout({ workerId: 'w9' });
            clock.advance(2 * SEC);
            expect((await store.getWorkerById('w9'))?.status).toBe('unknown');
          });
        });

        describe('reads in pages', () => {
          it('iterateSpans reads exactly the spans of querySpans, in every order and filter', async () => {
            const iterate = store.iterateSpans?.bind(store);
            if (iterate === undefined) return;
            await store.enqueueRollout({ input: 1 });
            const first = (await store.dequeueRollout())!;
            const second = await store.startAttempt(first.rolloutId);
            const other = await store.startRollout({ input: 2 });
            const spans: SpanInput[] = [];
            // Ties in every sort column: equal sequence ids (given), names, start times; NULL parents and
            // end times on some.
            for (let i = 0; i < 19; i++) {
              const attempt = i % 3 === 0 ? first : second;
              spans.push(
                span(attempt, `s-${String(i).padStart(2, '0')}`, {
                  sequenceId: 1 + Math.floor(i / 3),
                  name: `n-${i % 4}`,
                  traceId: `t-${i % 2}`,
                  ...(i % 5 === 0 ? {} : { parentId: `p-${i % 3}` }),
                  startTime: 100 + (i % 6),
                  ...(i % 4 === 0 ? {} : { endTime: 200 + (i % 7) }),
                }),
              );
            }
            await store.addManySpans(spans);
            await store.addManySpans([span(other, 'x1'), span(other, 'x2')]);
            const fields = [
              'sequenceId',
              'startTime',
              'endTime',
              'name',
              'spanId',
              'traceId',
              'parentId',
            ] as const;
            const queries: SpanQuery[] = [
              {},
              { sortOrder: 'desc' },
              { attemptId: 'latest' },
              { attemptId: first.attempt.attemptId, sortOrder: 'desc' },
              { limit: 5, offset: 3 },
              { limit: 0 },
              { offset: 30 },
              { nameContains: 'n-1', traceId: 't-0', filterLogic: 'or' },
              { parentId: 'p-1', nameContains: 'n' },
              ...fields.flatMap((sortBy) => [
                { sortBy },
                { sortBy, sortOrder: 'desc' as const },
                { sortBy, offset: 4, limit: 9 },
              ]),
            ];
            await expectPagedReads(
              queries,
              (q) => store.querySpans(first.rolloutId, q),
              (q, options) => iterate(first.rolloutId, q, options),
            );
            // A rollout without attempts has no latest attempt: nothing to read.
            const queued = await store.enqueueRollout({ input: 3 });
            expect(await readPages(iterate(queued.rolloutId, { attemptId: 'latest' }), 1000)).toEqual([]);
            await expectCode(
              (async () => {
                for await (const _ of iterate('', {})) break;
              })(),
              'INVALID_INPUT',
            );
          });

          it('iterateAttempts reads exactly the attempts of queryAttempts, in every order', async () => {
            const iterate = store.iterateAttempts?.bind(store);
            if (iterate === undefined) return;
            const rollout = await store.startRollout({ input: 1 });
            for (let i = 0; i < 8; i++) {
              if (i % 3 === 0) clock.advance(SEC);
              const next = await store.startAttempt(
                rollout.rolloutId,
                i % 2 === 0 ? {} : { workerId: `w-${i % 3}` },
              );
              if (i % 4 === 1) {
                await store.updateAttempt(rollout.rolloutId, next.attempt.attemptId, { status: 'failed' });
              }
            }
            const fields = ['sequenceId', 'startTime', 'endTime', 'status', 'attemptId', 'workerId'] as const;
            const queries = [
              {},
              { sortOrder: 'desc' as const },
              { limit: 3, offset: 2 },
              ...fields.flatMap((sortBy) => [{ sortBy }, { sortBy, sortOrder: 'desc' as const }]),
            ];
            await expectPagedReads(
              queries,
              (q) => store.queryAttempts(rollout.rolloutId, q),
              (q, options) => iterate(rollout.rolloutId, q, options),
            );
          });

          it('iterateResources reads exactly the snapshots of queryResources, in every order', async () => {
            const iterate = store.iterateResources?.bind(store);
            if (iterate === undefined) return;
            const ids: string[] = [];
            for (let i = 0; i < 9; i++) {
              if (i % 3 === 0) clock.advance(SEC);
              ids.push((await store.addResources({})).resourcesId);
            }
            clock.advance(SEC);
            await store.updateResources(ids[4]!, {});
            await store.updateResources(ids[1]!, {});
            const fields = ['resourcesId', 'createTime', 'updateTime', 'version'] as const;
            const queries = [
              {},
              { sortOrder: 'desc' as const },
              { limit: 4, offset: 1 },
              { resourcesIdContains: ids[2]!.slice(-3) },
              ...fields.flatMap((sortBy) => [{ sortBy }, { sortBy, sortOrder: 'desc' as const }]),
            ];
            await expectPagedReads(
              queries,
              (q) => store.queryResources(q),
              (q, options) => iterate(q, options),
            );
          });

          it('iterateWorkers reads exactly the workers of queryWorkers, in every order', async () => {
            const iterate = store.iterateWorkers?.bind(store);
            if (iterate === undefined) return;
            for (let i = 0; i < 9; i++) {
              if (i % 3 === 0) clock.advance(SEC);
              await store.updateWorker(`w-${(i * 7) % 9}`, {});
            }
            await store.enqueueRollout({ input: 1 });
            await store.dequeueRollout({ workerId: 'w-3' });
            await store.dequeueRollout({ workerId: 'w-5' });
            const fields = [
              'workerId',
              'status',
              'lastHeartbeatTime',
              'lastDequeueTime',
              'lastBusyTime',
              'lastIdleTime',
            ] as const;
            const queries = [
              {},
              { sortOrder: 'desc' as const },
              { limit: 4, offset: 2 },
              { statusIn: ['busy' as const], workerIdContains: '1', filterLogic: 'or' as const },
              ...fields.flatMap((sortBy) => [{ sortBy }, { sortBy, sortOrder: 'desc' as const }]),
            ];
            await expectPagedReads(
              queries,
              (q) => store.queryWorkers(q),
              (q, options) => iterate(q, options),
            );
          });

          it('a read in pages returns every row that existed before it once, while rows are added', async () => {
            const iterateRollouts = store.iterateRollouts?.bind(store);
            const iterateSpans = store.iterateSpans?.bind(store);
            if (iterateRollouts === undefined || iterateSpans === undefined) return;
            const before = await store.enqueueManyRollouts(
              Array.from({ length: 10 }, (_, i) => ({ input: i })),
            );
            const read: string[] = [];
            for await (const page of iterateRollouts({}, { pageRows: 3 })) {
              read.push(...page.map((r) => r.rolloutId));
              await store.enqueueRollout({ input: 'later' });
            }
            // In creation order the rollouts added meanwhile come after those that were there.
            expect(read.slice(0, 10)).toEqual(before.map((r) => r.rolloutId));
            expect(new Set(read).size).toBe(read.length);

            const started = (await store.dequeueRollout())!;
            await store.addManySpans(Array.from({ length: 10 }, (_, i) => span(started, `a-${i}`)));
            const spanIds: string[] = [];
            let added = 0;
            for await (const page of iterateSpans(started.rolloutId, {}, { pageRows: 3 })) {
              spanIds.push(...page.map((s) => s.spanId));
              await store.addSpan(span(started, `b-${added++}`));
            }
            expect(spanIds.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `a-${i}`));
            expect(new Set(spanIds).size).toBe(spanIds.length);
          });
        });

        describe('waiting for rollouts', () => {
          it('wakes on the write that finishes the rollout', async () => {
            const [a, b] = await store.enqueueManyRollouts([{ input: 'a' }, { input: 'b' }]);
            await store.dequeueManyRollouts({ limit: 2 });
            const wait = store.waitForRollouts({ rolloutIds: [a!.rolloutId, b!.rolloutId] });
            await store.updateAttempt(a!.rolloutId, 'latest', { status: 'succeeded' });
            await store.updateRollout(b!.rolloutId, { status: 'cancelled' });
            const done = await wait;
            expect(done.map((r) => [r.rolloutId, r.status])).toEqual([
              [a!.rolloutId, 'succeeded'],
              [b!.rolloutId, 'cancelled'],
            ]);
          });

          it('returns what finished when the timeout passes; unknown ids are left out', async () => {
            const [a, b] = await store.enqueueManyRollouts([{ input: 'a' }, { input: 'b' }]);
            await store.updateRollout(a!.rolloutId, { status: 'succeeded' });
            const immediate = await store.waitForRollouts({ rolloutIds: [a!.rolloutId, 'ro-unknown'] });
            expect(immediate.map((r) => r.rolloutId)).toEqual([a!.rolloutId]);
            const partial = await store.waitForRollouts({
              rolloutIds: [b!.rolloutId, a!.rolloutId],
              timeoutMs: 20,
            });
            expect(partial.map((r) => r.rolloutId)).toEqual([a!.rolloutId]);
            const none = await store.waitForRollouts({ rolloutIds: [b!.rolloutId], timeoutMs: 0 });
            expect(none).toEqual([]);
            await expectCode(
              store.waitForRollouts({ rolloutIds: [b!.rolloutId], timeoutMs: -1 }),
              'INVALID_INPUT',
            );
          });

          it('rejects pending waits with CLOSED when the store closes', async () => {
            const r = await store.enqueueRollout({ input: 1 });
            const wait = store.waitForRollouts({ rolloutIds: [r.rolloutId] });
            await store.close();
            await expectCode(wait, 'CLOSED');
            await expectCode(store.enqueueRollout({ input: 2 }), 'CLOSED');
          });
        });

        describe('idempotency keys', () => {
          it('returns the first result for a retried write instead of writing twice', async () => {
            const first = await store.enqueueRollout({ input: 1 }, { idempotencyKey: 'k-1' });
            const retry = await store.enqueueRollout({ input: 1 }, { idempotencyKey: 'k-1' });
            expect(retry).toEqual(first);
            expect((await store.queryRollouts()).total).toBe(1);
            const started = await store.startRollout({ input: 2 });
            const s1 = await store.addSpan(span(started, 's'), { idempotencyKey: 'k-2' });
            const s2 = await store.addSpan(span(started, 's'), { idempotencyKey: 'k-2' });
            expect(s2).toEqual(s1);
            expect(s2).not.toBeNull();
            const many = await store.addManySpans([span(started, 'm')], { idempotencyKey: 'k-3' });
            expect(await store.addManySpans([span(started, 'm')], { idempotencyKey: 'k-3' })).toEqual(many);
            const att1 = await store.startAttempt(started.rolloutId, { idempotencyKey: 'k-4' });
            const att2 = await store.startAttempt(started.rolloutId, { idempotencyKey: 'k-4' });
            expect(att2.attempt.attemptId).toBe(att1.attempt.attemptId);
            expect((await store.queryAttempts(started.rolloutId)).total).toBe(2);
            await expectCode(store.addResources({}, { idempotencyKey: 'k-1' }), 'INVALID_INPUT');
          });
        });

        describe('concurrent writes', () => {
          it('settles writes of the same tick independently: a failing one undoes only itself', async () => {
            const r = await store.startRollout({ input: 1 });
            const results = await Promise.allSettled([
              store.addSpan(span(r, 'a')),
              store.updateRollout('ro-missing', { status: 'failed' }),
              store.addManySpans([span(r, 'b'), { ...span(r, 'c'), attemptId: 'at-missing' }]),
              store.enqueueRollout({ input: 2 }),
              store.updateAttempt(r.rolloutId, 'latest', { metadata: { ok: true } }),
            ]);
            expect(results.map((x) => x.status)).toEqual([
              'fulfilled',
              'rejected',
              'rejected',
              'fulfilled',
              'fulfilled',
            ]);
            expect((await store.querySpans(r.rolloutId)).items.map((x) => x.spanId)).toEqual(['a']);
            expect((await store.queryRollouts()).total).toBe(2);
            expect((await store.getLatestAttempt(r.rolloutId))?.metadata).toEqual({ ok: true });
          });

          it('never drops a write submitted before close silently', async () => {
            const pending = [store.enqueueRollout({ input: 1 }), store.enqueueRollout({ input: 2 })];
            const closing = store.close();
            const settled = await Promise.allSettled(pending);
            await closing;
            // Local backends commit them; a remote client may refuse them, but only with CLOSED.
            for (const result of settled) {
              if (result.status === 'rejected') expect(isAgentStateError(result.reason, 'CLOSED')).toBe(true);
            }
            const fulfilled = settled.filter((result) => result.status === 'fulfilled').length;
            if (factory.name === 'memory' || factory.name === 'sqlite') expect(fulfilled).toBe(2);
            if (fixture.reopen !== undefined) {
              const again = await fixture.reopen({ now: clock.now, healthCheckIntervalMs: 0 });
              extra.push(again);
              expect((await again.queryRollouts()).total).toBeGreaterThanOrEqual(fulfilled);
            }
          });

          it('works the same with group commit off', async () => {
            const single = await factory.create({
              now: clock.now,
              healthCheckIntervalMs: 0,
              groupCommit: false,
            });
            try {
              const rollouts = await Promise.all(
                Array.from({ length: 5 }, (_, i) => single.store.enqueueRollout({ input: i })),
              );
              const taken = await Promise.all(rollouts.map(() => single.store.dequeueRollout()));
              expect(new Set(taken.map((t) => t?.rolloutId)).size).toBe(5);
              expect(taken.map((t) => t?.input)).toEqual([0, 1, 2, 3, 4]);
            } finally {
              await single.cleanup();
            }
          });
        });

        describe('statistics and retention', () => {
          it('counts what is stored', async () => {
            await store.enqueueManyRollouts([{ input: 1 }, { input: 2 }]);
            const r = (await store.dequeueRollout({ workerId: 'w' }))!;
            await store.addManySpans([span(r, 'a'), span(r, 'b')]);
            await store.addResources({});
            const stats = await store.statistics();
            expect(stats).toMatchObject({
              name: factory.name,
              totalRollouts: 2,
              totalAttempts: 1,
              totalSpans: 2,
              totalResources: 1,
              totalWorkers: 1,
              queueLength: 1,
              rolloutsByStatus: { queuing: 1, running: 1 },
            });
            expect(stats.uptimeMs).toBeGreaterThanOrEqual(0);
          });

          it('prunes finished rollouts older than olderThanMs with their attempts and spans', async () => {
            const old = await store.startRollout({ input: 'old' });
            await store.addSpan(span(old, 'x'));
            await store.updateAttempt(old.rolloutId, 'latest', { status: 'succeeded' });
            await store.enqueueRollout({ input: 'idem' }, { idempotencyKey: 'old-key' });
            clock.advance(3600 * SEC);
            const recent = await store.startRollout({ input: 'recent' });
            await store.updateAttempt(recent.rolloutId, 'latest', { status: 'failed' });
            const running = await store.startRollout({ input: 'running' });
            await store.addSpan(span(running, 'y'));
            const pruned = await store.pruneFinished({ olderThanMs: 60 * SEC });
            expect(pruned).toEqual({ rollouts: 1, attempts: 1, spans: 1, idempotencyKeys: 1 });
            expect(await store.getRolloutById(old.rolloutId)).toBeNull();
            expect((await store.querySpans(old.rolloutId)).total).toBe(0);
            expect(await store.getRolloutById(recent.rolloutId)).not.toBeNull();
            expect((await store.querySpans(running.rolloutId)).total).toBe(1);
            await expectCode(store.pruneFinished({ olderThanMs: -1 }), 'INVALID_INPUT');
          });
        });

        describe.skipIf(!factory.durable)('durability and many handles', () => {
          it('keeps everything across a reopen', async () => {
            const r = await store.enqueueRollout({ input: { deep: [1, 2] }, config: { maxAttempts: 2 } });
            await store.enqueueRollout({ input: 2 });
            const other = await fixture.reopen!({ now: clock.now, healthCheckIntervalMs: 0 });
            extra.push(other);
            expect(await other.getRolloutById(r.rolloutId)).toEqual(r);
            const d = await other.dequeueRollout();
            expect(d?.rolloutId).toBe(r.rolloutId);
            expect((await store.dequeueRollout())?.input).toBe(2);
          });

          it('never gives the same rollout to two handles', async () => {
            const other = await fixture.reopen!({ now: clock.now, healthCheckIntervalMs: 0 });
            extra.push(other);
            await store.enqueueManyRollouts(Array.from({ length: 60 }, (_, i) => ({ input: i })));
            const taken: string[] = [];
            await Promise.all(
              Array.from({ length: 12 }, async (_, i) => {
                const handle = i % 2 === 0 ? store : other;
                for (;;) {
                  const next = await handle.dequeueRollout({ workerId: `w${i}` });
                  if (next === null) return;
                  taken.push(next.rolloutId);
                }
              }),
            );
            expect(taken).toHaveLength(60);
            expect(new Set(taken).size).toBe(60);
          });

          it('wakes a waiter on another handle (within one health-check interval)', async () => {
            const waiter = await fixture.reopen!({ now: clock.now, healthCheckIntervalMs: 5 });
            extra.push(waiter);
            const r = await store.startRollout({ input: 1 });
            const wait = waiter.waitForRollouts({ rolloutIds: [r.rolloutId], timeoutMs: 10_000 });
            await store.updateAttempt(r.rolloutId, 'latest', { status: 'succeeded' });
            const [done] = await wait;
            expect(done?.status).toBe('succeeded');
          });
        });
      });
    });
  }
}
