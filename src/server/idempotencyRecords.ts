/**
 * Idempotency records every server process sees (`SharedIdempotencyRecords`): the contract between the
 * idempotency plugin (./idempotency.ts) and a shared table (./idempotencyPostgres.ts). A record is either
 * a claim (a request with that key is running somewhere, until its lease runs out) or a kept answer (until
 * its TTL runs out).
 */

/** A response remembered for replay. */
export interface StoredResponse {
  /** HTTP status (always 2xx: failed writes are not kept). */
  status: number;
  /** Its content-type header, if it had one. */
  contentType: string | undefined;
  /** The body as sent. */
  payload: string | Buffer;
}

/** What `claim` found: the key is now this caller's, an answer to replay, or a claim held by another. */
export type ClaimOutcome =
  | { readonly kind: 'claimed'; readonly token: string }
  | { readonly kind: 'answered'; readonly response: StoredResponse }
  | { readonly kind: 'busy' };

/** Records of idempotency keys shared by every server process of one database. */
export interface SharedIdempotencyRecords {
  /**
   * Takes `key` for a request for `leaseMs` (a claim whose lease ran out, its process dead or stalled, is
   * taken over), or says what holds it. `token` names the claim in the calls below.
   */
  claim(key: string, leaseMs: number): Promise<ClaimOutcome>;
  /** Extends a claim still held (a long request); false when it was lost. */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /** Turns a held claim into the kept answer, replayable for `ttlMs`. */
  complete(key: string, token: string, response: StoredResponse, ttlMs: number): Promise<void>;
  /** Drops a held claim (the request failed: a retry runs again). */
  release(key: string, token: string): Promise<void>;
  /** Removes expired records, then the oldest answers beyond `maxEntries` or `maxBytes` in all. */
  trim(maxEntries: number, maxBytes: number): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Bytes counted per kept answer on top of its payload: the key, headers and the cache's or row's bookkeeping. */
export const RECORD_OVERHEAD_BYTES = 256;

/** Bytes of a payload. */
export function payloadBytes(payload: string | Buffer): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}
