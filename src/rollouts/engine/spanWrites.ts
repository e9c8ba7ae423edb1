/** The span write rule (`addSpan`, `addManySpans`), a generator over `RolloutWriteTransaction`. */
import { NotFoundError } from '../../errors.ts';
import { normalizeSpan } from '../normalize.ts';
import type { Span, SpanInput, SpanWriteResult } from '../types.ts';
import { foundRolloutAndAttempt, heartbeat, type RolloutAndAttempt } from './lifecycle.ts';
import type { AttemptRow, RolloutRow } from './repository.ts';
import type { Steps } from './steps.ts';
import type { RolloutWriteTransaction } from './writeTransaction.ts';

/** What `addSpans` stored: the counts, and per input span the stored span or null (a duplicate). */
export interface AddedSpans {
  result: SpanWriteResult;
  stored: Array<Span | null>;
}

/** `addSpan`'s result: the span stored, or null for a duplicate. */
export function firstStored(added: AddedSpans): Span | null {
  return added.stored[0] ?? null;
}

/** `addManySpans`'s result: the counts. */
export function writeResult(added: AddedSpans): SpanWriteResult {
  return added.result;
}

/**
 * Stores spans, returning `shape` of what was stored (a function, not a wrapping generator, so the hot
 * path pays no extra delegation level per repository call): validates every span and its rollout/attempt
 * first (an unknown one stores nothing), issues missing sequence ids, skips duplicates, then records one
 * heartbeat per attempt that got a new span.
 */
export function* addSpans<T>(
  tx: RolloutWriteTransaction,
  inputs: SpanInput[],
  shape: (added: AddedSpans) => T,
): Steps<T> {
  const now = tx.seconds();
  // Each span is checked after the one before it passed, so it may skip the ids they share.
  const spans = inputs.map((input, index) => normalizeSpan(input, index, inputs[index - 1]));
  const targets = new Map<string, { rollout: RolloutRow; attempt: AttemptRow; inserted: boolean }>();
  const rollouts = new Map<string, RolloutRow>();
  const perRollout = new Map<string, { missing: number; maxGiven: number }>();
  for (const span of spans) {
    const key = `${span.rolloutId}\u0000${span.attemptId}`;
    if (!targets.has(key)) {
      let rollout = rollouts.get(span.rolloutId);
      let attempt: AttemptRow | null;
      if (rollout === undefined) {
        // The first span of a rollout reads (and locks) the rollout with its attempt in one call.
        const found = foundRolloutAndAttempt(
          span.rolloutId,
          (yield tx.getRolloutAndAttempt(span.rolloutId, span.attemptId)) as RolloutAndAttempt | null,
        );
        rollout = found.rollout;
        attempt = found.attempt;
        rollouts.set(span.rolloutId, rollout);
      } else {
        attempt = (yield tx.getAttempt(span.rolloutId, span.attemptId)) as AttemptRow | null;
      }
      if (attempt === null) {
        throw new NotFoundError(`attempt ${span.attemptId} of rollout ${span.rolloutId} does not exist`, {
          rolloutId: span.rolloutId,
          attemptId: span.attemptId,
          spanId: span.spanId,
        });
      }
      targets.set(key, { rollout, attempt, inserted: false });
    }
    let counts = perRollout.get(span.rolloutId);
    if (counts === undefined) {
      counts = { missing: 0, maxGiven: -1 };
      perRollout.set(span.rolloutId, counts);
    }
    if (span.sequenceId === undefined) counts.missing++;
    else if (span.sequenceId > counts.maxGiven) counts.maxGiven = span.sequenceId;
  }
  // Given ids first, then reserve above them: issued ids stay strictly increasing and unique per rollout.
  const nextIssued = new Map<string, number>();
  for (const [rolloutId, counts] of perRollout) {
    if (counts.maxGiven >= 0) yield tx.raiseSpanSequenceId(rolloutId, counts.maxGiven);
    if (counts.missing > 0)
      nextIssued.set(rolloutId, (yield tx.reserveSpanSequenceIds(rolloutId, counts.missing)) as number);
  }
  const complete = spans.map((span) => {
    if (span.sequenceId !== undefined) return span as Span;
    const next = nextIssued.get(span.rolloutId)!;
    nextIssued.set(span.rolloutId, next + 1);
    return { ...span, sequenceId: next } as Span;
  });
  const inserted = (yield tx.insertSpans(complete)) as boolean[];
  const result: SpanWriteResult = { inserted: 0, duplicates: 0, duplicateSpans: [] };
  const stored: Array<Span | null> = [];
  for (let i = 0; i < complete.length; i++) {
    const span = complete[i]!;
    if (inserted[i]) {
      result.inserted++;
      stored.push(span);
      targets.get(`${span.rolloutId}\u0000${span.attemptId}`)!.inserted = true;
    } else {
      result.duplicates++;
      result.duplicateSpans.push({
        rolloutId: span.rolloutId,
        attemptId: span.attemptId,
        spanId: span.spanId,
      });
      stored.push(null);
    }
  }
  for (const target of targets.values()) {
    if (target.inserted) {
      // Several attempts of one rollout in one batch: each heartbeat must see the rollout as last written.
      const rollout = rollouts.get(target.rollout.rolloutId)!;
      rollouts.set(rollout.rolloutId, yield* heartbeat(tx, rollout, target.attempt, now));
    }
  }
  return shape({ result, stored });
}
