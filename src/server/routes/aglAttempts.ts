/** Reference handlers of a rollout's attempts: start, list, read the latest, update. */
import type { AttemptPatch } from '../../rollouts/index.ts';
import { refuseNullFields } from '../agl/referenceChecks.ts';
import { attemptToWire, rolloutToWire } from '../agl/wire.ts';
import { type AglContext, type AglHandler, body, writeOptions } from './aglContext.ts';
import { type AglListings, page } from './aglListings.ts';

/** Handlers of the attempt operations, by `METHOD path`. */
export function attemptHandlers(
  { store, time }: AglContext,
  listings: AglListings,
): Record<string, AglHandler> {
  return {
    'POST /v1/agl/rollouts/{rollout_id}/attempts': async (r) => {
      const b = body(r);
      const id = r.params.rollout_id;
      const options = { ...writeOptions(r), workerId: (b.worker_id ?? null) as string | null };
      return rolloutToWire(await time('startAttempt', () => store.startAttempt(id, options)));
    },
    'GET /v1/agl/rollouts/{rollout_id}/attempts': async (r) =>
      listings.attempts(r.params.rollout_id, page(r.query, 'Attempt', 'query')),
    'POST /v1/agl/rollouts/{rollout_id}/attempts/search': async (r) =>
      listings.attempts(r.params.rollout_id, page(body(r), 'Attempt', 'body')),
    'POST /v1/agl/rollouts/{rollout_id}/attempts/{attempt_id}': async (r) => {
      // The reference refuses null for every field of this body (its store cannot clear them over HTTP).
      const b = body(r);
      refuseNullFields(b, ['status', 'worker_id', 'last_heartbeat_time', 'metadata']);
      const patch: AttemptPatch = {};
      if (b.status !== undefined) patch.status = b.status as AttemptPatch['status'];
      if (b.worker_id !== undefined) patch.workerId = b.worker_id as string | null;
      if (b.last_heartbeat_time !== undefined)
        patch.lastHeartbeatTime = b.last_heartbeat_time as number | null;
      if (b.metadata !== undefined) patch.metadata = b.metadata as Record<string, unknown> | null;
      const { rollout_id: rolloutId, attempt_id: attemptId } = r.params;
      return attemptToWire(
        await time('updateAttempt', () => store.updateAttempt(rolloutId, attemptId, patch, writeOptions(r))),
      );
    },
    'GET /v1/agl/rollouts/{rollout_id}/attempts/latest': async (r) => {
      const attempt = await time('getLatestAttempt', () => store.getLatestAttempt(r.params.rollout_id));
      return attempt ? attemptToWire(attempt) : null;
    },
  };
}
