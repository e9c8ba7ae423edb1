/** Reference handlers of workers, resources and the store's statistics. */

import { refuseNullFields } from '../agl/referenceChecks.ts';
import {
  namedResourcesFromWire,
  resourcesUpdateToWire,
  statisticsToWire,
  workerToWire,
} from '../agl/wire.ts';
import { type AglContext, type AglHandler, body, writeOptions } from './aglContext.ts';
import { type AglListings, resourcesQuery, workerQuery } from './aglListings.ts';

/** Handlers of the worker, resources and statistics operations, by `METHOD path`. */
export function resourceHandlers(
  { store, time }: AglContext,
  listings: AglListings,
): Record<string, AglHandler> {
  return {
    'GET /v1/agl/workers': async (r) => listings.workers(workerQuery(r.query, 'query')),
    'POST /v1/agl/workers/search': async (r) => listings.workers(workerQuery(body(r), 'body')),
    'GET /v1/agl/workers/{worker_id}': async (r) => {
      const worker = await time('getWorkerById', () => store.getWorkerById(r.params.worker_id));
      return worker ? workerToWire(worker) : null;
    },
    'POST /v1/agl/workers/{worker_id}': async (r) => {
      const b = body(r);
      refuseNullFields(b, ['heartbeat_stats']);
      const options = {
        ...writeOptions(r),
        ...(b.heartbeat_stats !== undefined
          ? { heartbeatStats: b.heartbeat_stats as Record<string, unknown> | null }
          : {}),
      };
      return workerToWire(await time('updateWorker', () => store.updateWorker(r.params.worker_id, options)));
    },
    'GET /v1/agl/statistics': async () =>
      statisticsToWire(await time('statistics', () => store.statistics())),
    'GET /v1/agl/resources': async (r) => listings.resources(resourcesQuery(r.query)),
    'POST /v1/agl/resources': async (r) =>
      resourcesUpdateToWire(
        await time('addResources', () =>
          store.addResources(namedResourcesFromWire(body(r)), writeOptions(r)),
        ),
      ),
    'GET /v1/agl/resources/latest': async () => {
      const latest = await time('getLatestResources', () => store.getLatestResources());
      return latest ? resourcesUpdateToWire(latest) : null;
    },
    'POST /v1/agl/resources/{resources_id}': async (r) => {
      const id = r.params.resources_id;
      return resourcesUpdateToWire(
        await time('updateResources', () =>
          store.updateResources(id, namedResourcesFromWire(body(r)), writeOptions(r)),
        ),
      );
    },
    'GET /v1/agl/resources/{resources_id}': async (r) => {
      const update = await time('getResourcesById', () => store.getResourcesById(r.params.resources_id));
      return update ? resourcesUpdateToWire(update) : null;
    },
  };
}
