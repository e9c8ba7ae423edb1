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
 * key. With `shared` records (`serve --postgres`: a table every server process sees), a retry that lands on
 * another process is answered the same way: a key is claimed there before the work runs, so a retry that
 * finds the claim of a request still running elsewhere waits for its answer (up to the claim's lease plus
 * a second; a claim whose process died runs out in that time and is taken over), and answers 409
 * `ALREADY_EXISTS` with `Retry-After` if it is still running then. The in-memory LRU stays in front.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { AgentStateError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import {
  payloadBytes,
  RECORD_OVERHEAD_BYTES,
  type SharedIdempotencyRecords,
  type StoredResponse,
} from './idempotencyRecords.ts';

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
  /** Records every server process sees (`PostgresIdempotencyRecords`); default: this process only. */
  shared?: SharedIdempotencyRecords;
  /**
   * How long a claim in `shared` holds a key without renewal, ms (default 10 s); a running request renews
   * it every third of that, so only a dead or stalled process lets it run out.
   */
  leaseMs?: number;
  /** Where failures to keep or drop a shared record, and of its trimming, go (default: a process warning). */
  onError?: BackgroundErrorHandler;
}

/** Default of `IdempotencyOptions.leaseMs`. */
export const DEFAULT_IDEMPOTENCY_LEASE_MS = 10_000;
// Longest pause between two looks at a claim held by another process, ms.
const MAX_POLL_MS = 250;

/** Default of `IdempotencyOptions.ttlMs`. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 600_000;
/** Default of `IdempotencyOptions.maxEntries`. */
export const DEFAULT_IDEMPOTENCY_MAX_ENTRIES = 20_000;
/** Default of `IdempotencyOptions.maxBytes`. */
export const DEFAULT_IDEMPOTENCY_MAX_BYTES = 64 * 1024 * 1024;
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

/** A claim this process holds in the shared records while its request runs. */
interface HeldClaim {
  token: string;
  renewal: NodeJS.Timeout;
}

declare module 'fastify' {
  interface FastifyRequest {
    agentstateIdempotencyKey?: string;
    agentstateIdempotencyClaim?: HeldClaim;
  }
}

/** Adds idempotency-key handling to every POST route of `app` that writes. */
export function registerIdempotency(app: FastifyInstance, options: IdempotencyOptions = {}): void {
  const ttlMs = options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  const maxEntries = options.maxEntries ?? DEFAULT_IDEMPOTENCY_MAX_ENTRIES;
  const maxBytes = options.maxBytes ?? DEFAULT_IDEMPOTENCY_MAX_BYTES;
  const { shared, onError } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS;
  const done = new LRUCache<string, StoredResponse>({
    max: maxEntries,
    maxSize: maxBytes,
    sizeCalculation: (stored, key) => payloadBytes(stored.payload) + key.length + RECORD_OVERHEAD_BYTES,
    ttl: ttlMs,
    // Per-entry timers (ttlAutopurge) cost a timer per write; one sweep per interval frees the same memory.
    ttlAutopurge: false,
  });
  const purge = setInterval(
    () => {
      done.purgeStale();
      shared
        ?.trim(maxEntries, maxBytes)
        .catch((error: unknown) =>
          reportBackgroundError(onError, error, { source: 'idempotency records trim' }),
        );
    },
    Math.max(1000, Math.min(ttlMs, 60_000)),
  );
  purge.unref();
  app.addHook('onClose', async () => {
    clearInterval(purge);
    await shared?.close();
  });
  const pending = new Map<string, Pending>();

  const replay = (reply: FastifyReply, stored: StoredResponse): FastifyReply => {
    reply.status(stored.status).header(REPLAYED_HEADER, 'true');
    if (stored.contentType) reply.header('content-type', stored.contentType);
    return reply.send(stored.payload);
  };
  /** Ends this process's wait list of `key`: its waiters replay `response`, or run again when undefined. */
  const settle = (key: string, response: StoredResponse | undefined): void => {
    pending.get(key)?.resolve(response);
    pending.delete(key);
  };
  /** Ends the shared claim of a request: keeps its answer, or drops the claim so a retry runs again. */
  const finishClaim = async (request: FastifyRequest, key: string, response?: StoredResponse) => {
    const claim = request.agentstateIdempotencyClaim;
    if (claim === undefined || shared === undefined) return;
    request.agentstateIdempotencyClaim = undefined;
    clearInterval(claim.renewal);
    const keep = response !== undefined && payloadBytes(response.payload) + RECORD_OVERHEAD_BYTES <= maxBytes;
    try {
      if (keep) await shared.complete(key, claim.token, response, ttlMs);
      else await shared.release(key, claim.token);
    } catch (error) {
      // The answer still goes out; the claim runs out after its lease.
      reportBackgroundError(onError, error, { source: 'idempotency record', details: { url: request.url } });
    }
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
    if (shared) {
      let token: string;
      try {
        const outcome = await claimShared(shared, key, leaseMs);
        if (outcome.kind === 'answered') {
          done.set(key, outcome.response);
          settle(key, outcome.response);
          return replay(reply, outcome.response);
        }
        token = outcome.token;
      } catch (error) {
        settle(key, undefined);
        if (error instanceof AgentStateError && error.code === 'ALREADY_EXISTS')
          reply.header('retry-after', '1');
        throw error;
      }
      const renewal = setInterval(() => {
        shared.renew(key, token, leaseMs).catch((error: unknown) =>
          reportBackgroundError(onError, error, {
            source: 'idempotency claim renewal',
            details: { url: request.url },
          }),
        );
      }, leaseMs / 3);
      renewal.unref();
      request.agentstateIdempotencyClaim = { token, renewal };
    }
    request.agentstateIdempotencyKey = key;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const key = request.agentstateIdempotencyKey;
    if (key === undefined) return payload;
    request.agentstateIdempotencyKey = undefined;
    // A failed write changed nothing: its answer is not kept, and a retry runs again.
    const ok = reply.statusCode >= 200 && reply.statusCode < 300;
    if (!ok || !(typeof payload === 'string' || Buffer.isBuffer(payload))) {
      await finishClaim(request, key);
      settle(key, undefined);
      return payload;
    }
    const contentType = reply.getHeader('content-type');
    const stored: StoredResponse = {
      status: reply.statusCode,
      contentType: typeof contentType === 'string' ? contentType : undefined,
      payload,
    };
    // Kept where other processes see it before the answer leaves: a client that then loses the answer and
    // retries elsewhere finds it.
    await finishClaim(request, key, stored);
    done.set(key, stored);
    settle(key, stored);
    return payload;
  });

  // A request aborted before onSend must not leave waiters hanging, nor its claim held.
  app.addHook('onResponse', async (request) => {
    const key = request.agentstateIdempotencyKey;
    if (key === undefined) return;
    request.agentstateIdempotencyKey = undefined;
    await finishClaim(request, key);
    settle(key, undefined);
  });
}

/**
 * Claims `key` in the shared records, waiting while another process's request holds it: until that one's
 * answer is kept (replayed here), its claim is dropped (the request failed) or its lease runs out (its
 * process died; the claim is taken over). Waits at most the lease plus a second, so a live holder still
 * running after that gets a 409 instead of an unbounded wait.
 */
async function claimShared(
  shared: SharedIdempotencyRecords,
  key: string,
  leaseMs: number,
): Promise<{ kind: 'claimed'; token: string } | { kind: 'answered'; response: StoredResponse }> {
  const deadline = Date.now() + leaseMs + 1000;
  for (let pause = 10; ; pause = Math.min(MAX_POLL_MS, pause * 2)) {
    const outcome = await shared.claim(key, leaseMs);
    if (outcome.kind !== 'busy') return outcome;
    if (Date.now() + pause > deadline) {
      throw new AgentStateError(
        'ALREADY_EXISTS',
        'a request with this Idempotency-Key is still running on another server process; retry after it finishes',
        { idempotencyKey: key.slice(key.lastIndexOf('\u0000') + 1), retryAfterSeconds: 1 },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
