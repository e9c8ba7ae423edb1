/**
 * The TTL and session parts of the HTTP API as typed clients; `AgentStateClient.ttl` and
 * `AgentStateClient.sessions` are instances of these.
 */
import type { SessionMessage, SessionMetrics, SessionStatus, SessionSummary } from '../modules/index.ts';
import type { HttpTransport } from './transport.ts';
import { throwIfError } from './transport.ts';

const enc = encodeURIComponent;

/** A lock held through the server; `release()`/`extend()` present its owner token. */
export interface RemoteLock {
  /** The lock's name. */
  readonly name: string;
  /** The owner token. */
  readonly token: string;
  /** Frees the lock if still held by this owner. */
  release(): Promise<boolean>;
  /** Resets its expiry to `ttlMs` from now if still held by this owner. */
  extend(ttlMs: number): Promise<boolean>;
}

/** /v1/ttl: values with a time to live, counters, locks and cooldowns. */
export class TtlClient {
  readonly #http: HttpTransport;

  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** The value and remaining ms, or undefined when missing or expired. */
  async get<V = unknown>(key: string): Promise<{ value: V; ttlMs: number | null } | undefined> {
    const response = await this.#http.send({ method: 'GET', path: `/v1/ttl/keys/${enc(key)}` });
    if (response.status === 404) return undefined;
    throwIfError(response);
    const body = response.body as { value: V; ttlMs: number | null };
    return { value: body.value, ttlMs: body.ttlMs };
  }

  /** Stores a JSON value; with `ifAbsent` only when the key is missing (returns whether it stored). */
  async set(
    key: string,
    value: unknown,
    options: { ttlMs?: number; ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    const body = await this.#http.json<{ stored: boolean }>({
      method: 'PUT',
      path: `/v1/ttl/keys/${enc(key)}`,
      body: { value, ...options },
    });
    return body.stored;
  }

  /** Removes a key; false when it was not there. */
  async delete(key: string): Promise<boolean> {
    const response = await this.#http.send({ method: 'DELETE', path: `/v1/ttl/keys/${enc(key)}` });
    if (response.status === 404) return false;
    throwIfError(response);
    return true;
  }

  /** Every live key, optionally by prefix, read page by page (see `scanKeys` to hold one page at a time). */
  async keys(prefix?: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.scanKeys({ prefix, cursor });
      keys.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return keys;
  }

  /** One page of live keys and the `cursor` of the next page (absent after the last). */
  async scanKeys(
    options: { prefix?: string | undefined; cursor?: string | undefined; limit?: number | undefined } = {},
  ): Promise<{ keys: string[]; cursor?: string }> {
    return this.#http.json<{ keys: string[]; cursor?: string }>({
      method: 'GET',
      path: '/v1/ttl/keys',
      query: { prefix: options.prefix, cursor: options.cursor, limit: options.limit },
    });
  }

  /** Adds `by` (default 1) to a counter; a new counter starts at `by` with `ttlMs`. */
  async increment(key: string, by = 1, options: { ttlMs?: number } = {}): Promise<number> {
    const body = await this.#http.json<{ value: number }>({
      method: 'POST',
      path: `/v1/ttl/keys/${enc(key)}/increment`,
      body: { by, ...options },
    });
    return body.value;
  }

  /** Takes a named lock for `ttlMs`, waiting up to `waitMs`; null when someone else holds it. */
  async acquireLock(name: string, options: { ttlMs: number; waitMs?: number }): Promise<RemoteLock | null> {
    const body = await this.#http.json<{ acquired: boolean; token?: string }>({
      method: 'POST',
      path: `/v1/ttl/locks/${enc(name)}`,
      body: options,
      extraTimeoutMs: options.waitMs ?? 0,
    });
    if (!body.acquired || !body.token) return null;
    const token = body.token;
    const http = this.#http;
    return {
      name,
      token,
      async release() {
        const r = await http.json<{ released: boolean }>({
          method: 'POST',
          path: `/v1/ttl/locks/${enc(name)}/release`,
          body: { token },
        });
        return r.released;
      },
      async extend(ttlMs: number) {
        const r = await http.json<{ extended: boolean }>({
          method: 'POST',
          path: `/v1/ttl/locks/${enc(name)}/extend`,
          body: { token, ttlMs },
        });
        return r.extended;
      },
    };
  }

  /** True when the caller may proceed (a cooldown of `ttlMs` starts), false while one runs. */
  async cooldown(name: string, ttlMs: number): Promise<boolean> {
    const body = await this.#http.json<{ allowed: boolean }>({
      method: 'POST',
      path: `/v1/ttl/cooldowns/${enc(name)}`,
      body: { ttlMs },
    });
    return body.allowed;
  }
}

/** A session as the server returns it. */
export interface RemoteSession extends SessionSummary {
  /** Participant ids. */
  participants: string[];
  /** Why the status last changed. */
  statusReason: string | null;
  /** The context map as an object. */
  context: Record<string, unknown>;
}

/** /v1/sessions: conversation sessions. */
export class SessionsClient {
  readonly #http: HttpTransport;

  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** Creates a session (ALREADY_EXISTS when the id is taken). */
  create(
    sessionId: string,
    options: { participants?: string[]; expiresInMs?: number } = {},
  ): Promise<RemoteSession> {
    return this.#http.json({ method: 'POST', path: '/v1/sessions', body: { sessionId, ...options } });
  }

  /** A session, or undefined. */
  async get(sessionId: string): Promise<RemoteSession | undefined> {
    const response = await this.#http.send({ method: 'GET', path: `/v1/sessions/${enc(sessionId)}` });
    if (response.status === 404) return undefined;
    throwIfError(response);
    return response.body as RemoteSession;
  }

  /**
   * One page of sessions in id order (default 100, at most 1000), optionally by status, participant or id
   * prefix, with counts over all sessions; pass the page's `cursor` for the next one.
   */
  list(
    filter: {
      status?: SessionStatus;
      participant?: string;
      prefix?: string;
      limit?: number;
      cursor?: string;
    } = {},
  ): Promise<{ sessions: SessionSummary[]; cursor?: string; metrics: SessionMetrics }> {
    return this.#http.json({ method: 'GET', path: '/v1/sessions', query: { ...filter } });
  }

  /** Adds a message. */
  addMessage(
    sessionId: string,
    message: Record<string, unknown>,
    senderId?: string,
  ): Promise<SessionMessage> {
    return this.#http.json({
      method: 'POST',
      path: `/v1/sessions/${enc(sessionId)}/messages`,
      body: { message, ...(senderId === undefined ? {} : { senderId }) },
    });
  }

  /** Recent messages. */
  async messages(
    sessionId: string,
    query: { limit?: number; senderId?: string } = {},
  ): Promise<SessionMessage[]> {
    const body = await this.#http.json<{ messages: SessionMessage[] }>({
      method: 'GET',
      path: `/v1/sessions/${enc(sessionId)}/messages`,
      query: { ...query },
    });
    return body.messages;
  }

  /** Adds a participant; false when already there. */
  async addParticipant(sessionId: string, participantId: string): Promise<boolean> {
    const body = await this.#http.json<{ added: boolean }>({
      method: 'POST',
      path: `/v1/sessions/${enc(sessionId)}/participants`,
      body: { participantId },
    });
    return body.added;
  }

  /** Sets one context value. */
  setContext(sessionId: string, key: string, value: unknown): Promise<RemoteSession> {
    return this.#http.json({
      method: 'PUT',
      path: `/v1/sessions/${enc(sessionId)}/context/${enc(key)}`,
      body: { value },
    });
  }

  /** Pauses, resumes or ends a session. */
  transition(sessionId: string, action: 'pause' | 'resume' | 'end', reason?: string): Promise<RemoteSession> {
    return this.#http.json({
      method: 'POST',
      path: `/v1/sessions/${enc(sessionId)}/${action}`,
      body: reason === undefined ? {} : { reason },
    });
  }

  /** Removes a session; false when unknown. */
  async remove(sessionId: string): Promise<boolean> {
    const response = await this.#http.send({ method: 'DELETE', path: `/v1/sessions/${enc(sessionId)}` });
    if (response.status === 404) return false;
    throwIfError(response);
    return true;
  }
}
