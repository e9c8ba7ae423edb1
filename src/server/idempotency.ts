/**
 * Idempotency keys for POST requests that write: a client sends `Idempotency-Key: <unique>` and, if it
 * retries after a lost connection, the server answers with the first response instead of doing the work
 * twice (no duplicate rollout, no duplicate span). A retry that arrives while the first request is still
 * running waits for it.
 *
 * Only writes take part: a POST that reads (searches, waits; routes whose access scope is `read`) runs
 * again on a retry, which is what a read means, so its answers (up to megabytes of spans) are never kept.
 * Only successful answers (2xx) are kept: a write that failed changed nothing, and its retry runs again.
 * Kept answers live in an LRU bounded by entries and by bytes, and expire after `ttlMs` even if nobody
 * asks again (a timer purges stale entries). Keys are scoped by the caller's token name, method, URL and
 * key. This covers a client retrying against the same server process; several processes behind a load
 * balancer need sticky routing, or keys the caller chose (kept by the rollout store itself).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

/** A response remembered for replay. */
interface StoredResponse {
  status: number;
  contentType: string | undefined;
  payload: string | Buffer;
}

interface Pending {
  promise: Promise<StoredResponse | undefined>;
  resolve(response: StoredResponse | undefined): void;
}

/** Options of the idempotency plugin. */
export interface IdempotencyOptions {
  /** How long a response is replayable, ms (default 10 minutes). */
  ttlMs?: number;
  /** At most this many remembered responses; the least recently used go first (default 20,000). */
  maxEntries?: number;
  /** At most this many bytes of remembered responses (default 64 MiB); a larger answer is not kept. */
  maxBytes?: number;
}

/** Default of `IdempotencyOptions.ttlMs`. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 600_000;
/** Default of `IdempotencyOptions.maxEntries`. */
export const DEFAULT_IDEMPOTENCY_MAX_ENTRIES = 20_000;
/** Default of `IdempotencyOptions.maxBytes`. */
export const DEFAULT_IDEMPOTENCY_MAX_BYTES = 64 * 1024 * 1024;
// Bytes counted per entry on top of its payload: the key, headers and the cache's own bookkeeping.
const ENTRY_OVERHEAD_BYTES = 256;

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

/** Adds idempotency-key handling to every POST route of `app` that writes. */
export function registerIdempotency(app: FastifyInstance, options: IdempotencyOptions = {}): void {
  const ttlMs = options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  const done = new LRUCache<string, StoredResponse>({
    max: options.maxEntries ?? DEFAULT_IDEMPOTENCY_MAX_ENTRIES,
    maxSize: options.maxBytes ?? DEFAULT_IDEMPOTENCY_MAX_BYTES,
    sizeCalculation: (stored, key) =>
      (typeof stored.payload === 'string' ? Buffer.byteLength(stored.payload) : stored.payload.length) +
      key.length +
      ENTRY_OVERHEAD_BYTES,
    ttl: ttlMs,
    // Per-entry timers (ttlAutopurge) cost a timer per write; one sweep per interval frees the same memory.
    ttlAutopurge: false,
  });
  const purge = setInterval(() => done.purgeStale(), Math.max(1000, Math.min(ttlMs, 60_000)));
  purge.unref();
  app.addHook('onClose', async () => clearInterval(purge));
  const pending = new Map<string, Pending>();

  const replay = (reply: FastifyReply, stored: StoredResponse): FastifyReply => {
    reply.status(stored.status).header(REPLAYED_HEADER, 'true');
    if (stored.contentType) reply.header('content-type', stored.contentType);
    return reply.send(stored.payload);
  };

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST') return;
    // Reads sent as POST (searches, waits) are not writes: a retry simply reads again.
    if (request.routeOptions.config.access?.scope === 'read') return;
    const header = request.headers[IDEMPOTENCY_HEADER];
    if (typeof header !== 'string' || header === '') return;
    const principal = request.agentstatePrincipal?.name ?? '';
    const key = `${principal}\u0000${request.url}\u0000${header}`;
    const stored = done.get(key);
    if (stored) return replay(reply, stored);
    // A loop, not one wait: when the request waited for fails (not kept), the first waiter to resume runs
    // for real and the others must wait for that one in turn, or each would run the work again.
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
    // A failed write changed nothing: its answer is not kept, and a retry runs again.
    const ok = reply.statusCode >= 200 && reply.statusCode < 300;
    if (!ok || !(typeof payload === 'string' || Buffer.isBuffer(payload))) {
      entry?.resolve(undefined);
      return payload;
    }
    const contentType = reply.getHeader('content-type');
    const stored: StoredResponse = {
      status: reply.statusCode,
      contentType: typeof contentType === 'string' ? contentType : undefined,
      payload,
    };
    done.set(key, stored);
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
