/**
 * What the `/v1/agl` route files share: the request type of a reference route, the store with its timer,
 * and the store-level idempotency key.
 *
 * The reference routes' schemas are data (the reference's OpenAPI document, read at run time by
 * agl/reference.ts), so their request parts cannot be typed from them the way agentstate's own routes are
 * (../schemaTypes.ts): ajv validates each part against the document, and the handlers read the validated
 * parts as wire records field by field (agl/wire.ts).
 */
import type { FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import type { RolloutStore, WriteOptions } from '../../rollouts/index.ts';
import type { Wire } from '../agl/wire.ts';
import { DURABLE_KEY_HEADER, IDEMPOTENCY_HEADER } from '../idempotency.ts';
import type { ServerMetrics } from '../metrics.ts';

/** Request parts of a reference route, as its schemas in the reference document validated them. */
export interface AglRoute extends RouteGenericInterface {
  /** The JSON body, absent on routes without one. */
  Body: Wire | undefined;
  /** The query string. */
  Querystring: Wire;
  /** Path parameters: each handler reads only those its path names. */
  Params: { rollout_id: string; attempt_id: string; worker_id: string; resources_id: string };
}

/** A reference route's request. */
export type AglRequest = FastifyRequest<AglRoute>;

/** A reference operation's handler; what it returns is sent with the operation's success status. */
export type AglHandler = (request: AglRequest, reply: FastifyReply) => Promise<unknown>;

/** The body of a reference request as a wire record (`{}` when there is none). */
export const body = (request: AglRequest): Wire => request.body ?? {};

/** The rollout store the reference routes serve, with its call timer. */
export interface AglContext {
  /** The store. */
  store: RolloutStore;
  /** The server's metrics. */
  metrics: ServerMetrics;
  /** Runs `call`, timed as the rollout store's `operation`. */
  time<T>(operation: string, call: () => Promise<T>): Promise<T>;
}

/** The store-level idempotency key: only a key the caller chose (see DURABLE_KEY_HEADER). */
export function writeOptions(request: FastifyRequest): WriteOptions {
  const key = request.headers[IDEMPOTENCY_HEADER];
  if (request.headers[DURABLE_KEY_HEADER] !== '1') return {};
  return typeof key === 'string' && key !== '' ? { idempotencyKey: key } : {};
}
