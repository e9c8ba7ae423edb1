/** Reference handlers of the rollout queue and rollouts: enqueue, dequeue, start, list, read, update. */
import type { EnqueueRolloutRequest, RolloutPatch, StartRolloutRequest } from '../../rollouts/index.ts';
import { refuseNullFields } from '../agl/referenceChecks.ts';
import { configFromWire, rolloutToWire, type Wire } from '../agl/wire.ts';
import { type AglContext, type AglHandler, body, writeOptions } from './aglContext.ts';
import { type AglListings, rolloutQuery } from './aglListings.ts';

function enqueueRequestFromWire(w: Wire): EnqueueRolloutRequest {
  const request: EnqueueRolloutRequest = { input: w.input };
  if (w.mode !== undefined) request.mode = w.mode as EnqueueRolloutRequest['mode'];
  if (w.resources_id !== undefined) request.resourcesId = w.resources_id as string | null;
  if (w.config !== undefined) request.config = configFromWire(w.config as Wire | null) ?? null;
  if (w.metadata !== undefined) request.metadata = w.metadata as Record<string, unknown> | null;
  return request;
}

/** Handlers of the queue and rollout operations, by `METHOD path`. */
export function rolloutHandlers(
  { store, time }: AglContext,
  listings: AglListings,
): Record<string, AglHandler> {
  return {
    'POST /v1/agl/queues/rollouts/enqueue': async (r) => {
      const requests = (body(r).rollouts as Wire[]).map(enqueueRequestFromWire);
      const rollouts = await time('enqueueManyRollouts', () =>
        store.enqueueManyRollouts(requests, writeOptions(r)),
      );
      return rollouts.map(rolloutToWire);
    },
    'POST /v1/agl/queues/rollouts/dequeue': async (r) => {
      const b = body(r);
      const options = {
        limit: typeof b.limit === 'number' ? b.limit : 1,
        workerId: (b.worker_id ?? null) as string | null,
      };
      const rollouts = await time('dequeueManyRollouts', () => store.dequeueManyRollouts(options));
      return rollouts.map(rolloutToWire);
    },
    'POST /v1/agl/rollouts': async (r) => {
      const b = body(r);
      const request: StartRolloutRequest = enqueueRequestFromWire(b);
      if (b.worker_id !== undefined) request.workerId = b.worker_id as string | null;
      return rolloutToWire(await time('startRollout', () => store.startRollout(request, writeOptions(r))));
    },
    'GET /v1/agl/rollouts': async (r) => listings.rollouts(rolloutQuery(r.query, 'query')),
    'POST /v1/agl/rollouts/search': async (r) => listings.rollouts(rolloutQuery(body(r), 'body')),
    'GET /v1/agl/rollouts/{rollout_id}': async (r) => {
      const rollout = await time('getRolloutById', () => store.getRolloutById(r.params.rollout_id));
      return rollout ? rolloutToWire(rollout) : null;
    },
    'POST /v1/agl/rollouts/{rollout_id}': async (r) => {
      // Omitted: unchanged. null: cleared for input, mode, resources_id and metadata; refused for the two
      // a rollout always has.
      const b = body(r);
      refuseNullFields(b, ['status', 'config']);
      const patch: RolloutPatch = {};
      if (b.input !== undefined) patch.input = b.input;
      if (b.mode !== undefined) patch.mode = b.mode as RolloutPatch['mode'];
      if (b.resources_id !== undefined) patch.resourcesId = b.resources_id as string | null;
      if (b.status !== undefined) patch.status = b.status as RolloutPatch['status'];
      if (b.config !== undefined) patch.config = configFromWire(b.config as Wire) ?? {};
      if (b.metadata !== undefined) patch.metadata = b.metadata as Record<string, unknown> | null;
      const id = r.params.rollout_id;
      return rolloutToWire(
        await time('updateRollout', () => store.updateRollout(id, patch, writeOptions(r))),
      );
    },
  };
}
