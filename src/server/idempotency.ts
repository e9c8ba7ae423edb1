/**
 * Idempotency keys for POST requests: a client sends `Idempotency-Key: <unique>` and, if it retries after
 * a lost connection, the server answers with the first response instead of doing the work twice (no
 * duplicate rollout, no duplicate span). A retry that arrives while the first request is still running
 * waits for it.
 *
 * Responses are kept in memory for `ttlMs` (bounded by `maxEntries`), keyed by the caller's token name,
 * method, URL and key. This covers a client retrying against the same server process; several processes
 * behind a load balancer need sticky routing for the guarantee to hold across them.
 * A 5xx answer is not kept, so a retry after a failure runs again (store calls that fail roll back).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** A response remembered for replay. */
interface StoredResponse {
  status: number;
  contentType: string | undefined;
  payload: string | Buffer;
  expiresAt: number;
}

interface Pending {
  promise: Promise<StoredResponse | undefined>;
  resolve(response: StoredResponse | undefined): void;
}

/** Options of the idempotency plugin. */
export interface IdempotencyOptions {
  /** How long a response is replayable, ms (default 10 minutes). */
  ttlMs?: number;
  /** At most this many remembered responses; the oldest go first (default 20 000). */
  maxEntries?: number;
  /** Clock, epoch ms. */
  now?: () => number;
}

/** The header a client sets. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/**
 * Set (to `1`) by a client whose caller chose the key itself: the server then also passes the key to the
 * rollout store, which keeps it durably (across restarts and server processes) until pruned. Keys a
 * client generates for its own retries stay in the server's memory only, so they cost the store nothing.
 */
export const DURABLE_KEY_HEADER = 'x-agentstate-durable-key';
/** The header the server sets on a replayed response. */
export const REPLAYED_HEADER = 'idempotent-replayed';

declare module 'fastify' {
  interface FastifyRequest {
    agentstateIdempotencyKey?: string;
  }
}

/** Adds idempotency-key handling to every POST route of `app`. */
export function registerIdempotency(app: FastifyInstance, options: IdempotencyOptions = {}): void {
  const ttlMs = options.ttlMs ?? 600_000;
  const maxEntries = options.maxEntries ?? 20_000;
  const now = options.now ?? Date.now;
  // Map keeps insertion order, so the first entries are the oldest: eviction is O(1).
  const done = new Map<string, StoredResponse>();
  const pending = new Map<string, Pending>();

  const replay = (reply: FastifyReply, stored: StoredResponse): FastifyReply => {
    reply.status(stored.status).header(REPLAYED_HEADER, 'true');
    if (stored.contentType) reply.header('content-type', stored.contentType);
    return reply.send(stored.payload);
  };

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST') return;
    const header = request.headers[IDEMPOTENCY_HEADER];
    if (typeof header !== 'string' || header === '') return;
    const principal = request.agentstatePrincipal?.name ?? '';
    const key = `${principal}\u0000${request.url}\u0000${header}`;
    const stored = done.get(key);
    if (stored && stored.expiresAt > now()) return replay(reply, stored);
    if (stored) done.delete(key);
    // A loop, not one wait: when the request waited for fails with a 5xx (not kept), the first waiter to
    // resume runs for real and the others must wait for that one in turn, or each would run the work again.
    for (let inFlight = pending.get(key); inFlight; inFlight = pending.get(key)) {
      const first = await inFlight.promise;
      if (first) return replay(reply, first);
    }
    let resolve!: (response: StoredResponse | undefined) => void;
    const promise = new Promise<StoredResponse | undefined>((r) => {
      resolve = r;
    });
    pending.set(key, { promise, resolve });
    request.agentstateIdempotencyKey = key;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const key = request.agentstateIdempotencyKey;
    if (key === undefined) return payload;
    const entry = pending.get(key);
    pending.delete(key);
    request.agentstateIdempotencyKey = undefined;
    if (reply.statusCode >= 500 || !(typeof payload === 'string' || Buffer.isBuffer(payload))) {
      entry?.resolve(undefined);
      return payload;
    }
    const contentType = reply.getHeader('content-type');
    const stored: StoredResponse = {
      status: reply.statusCode,
      contentType: typeof contentType === 'string' ? contentType : undefined,
      payload,
      expiresAt: now() + ttlMs,
    };
    done.set(key, stored);
    if (done.size > maxEntries) {
      const oldest = done.keys().next().value;
      if (oldest !== undefined) done.delete(oldest);
    }
    entry?.resolve(stored);
    return payload;
  });

  // A request aborted before onSend must not leave waiters hanging.
  app.addHook('onResponse', async (request) => {
    const key = request.agentstateIdempotencyKey;
    if (key === undefined) return;
    pending.get(key)?.resolve(undefined);
    pending.delete(key);
  });
}
