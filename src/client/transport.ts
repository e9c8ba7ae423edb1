/**
 * The HTTP transport of AgentStateClient: timeouts, retries with exponential backoff and jitter on network
 * errors and 5xx answers (after asking /health whether the server is back) and on 429 answers, and 409s to a
 * write whose idempotency key is still running on another server (after the
 * server's `Retry-After`, which also lengthens the wait before retrying a 503), idempotency keys on every
 * POST that writes so a retry never does the work twice, and errors rebuilt as the AgentStateError subclass the server
 * reported.
 */
import {
  AgentStateError,
  ClosedError,
  type ErrorCode,
  errorForCode,
  InvalidInputError,
  TimeoutError,
  UnavailableError,
} from '../errors.ts';
import { Backoff, sleep } from '../shared/backoff.ts';

/** Options of the HTTP transport. */
export interface TransportOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:4747` (give this, `endpoints`, or both). */
  url?: string;
  /**
   * Base URLs of several servers sharing one database (after `url` when both are given). Requests go to
   * the first; a request that cannot reach its server or gets a 5xx answer is retried on the next one in
   * the list (in a ring), which then stays the current server. Give each runner the list in another order
   * to spread runners over the servers.
   */
  endpoints?: readonly string[];
  /** Bearer token, when the server needs one. */
  token?: string;
  /** Per-request timeout, ms (default 30 000). Long waits add their own duration on top. */
  timeoutMs?: number;
  /** Retries after the first try on network errors, 5xx and 429 answers (default 4). */
  retries?: number;
  /** First backoff delay, ms; doubles on each retry (default 100). */
  retryDelayMs?: number;
  /** Longest backoff delay, ms (default 2 000). */
  maxRetryDelayMs?: number;
  /**
   * Longest `Retry-After` (on 429 and 503 answers) the client waits out before retrying, ms (default
   * 30 000). A server asking for a longer pause gets its answer returned to the caller instead.
   */
  maxRetryAfterMs?: number;
  /** The fetch to use (default the global undici fetch, which keeps connections alive). */
  fetch?: typeof fetch;
}

/** One request. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | readonly string[] | null | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Idempotency key of a POST (default: a fresh UUID per logical call, reused by its retries). */
  idempotencyKey?: string;
  /** A POST that only reads (search, wait): sent without an idempotency key, as a retry just reads again. */
  read?: boolean;
  /** Extra time this call may legitimately take (long waits), ms. */
  extraTimeoutMs?: number;
  /** Aborts the call (and closes its connection, which ends a server-side wait). */
  signal?: AbortSignal;
}

/** A response the caller wants to inspect (status, headers) rather than just the body. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

function errorFromBody(status: number, body: unknown): AgentStateError {
  const error = (
    body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null
  )?.error;
  const code = (error?.code ?? (status >= 500 ? 'INTERNAL' : 'INVALID_INPUT')) as ErrorCode;
  const message = error?.message ?? `server answered HTTP ${status}`;
  const details = { ...(error?.details ?? {}), status };
  return errorForCode(code, message, details);
}

/** Throws the server's error when a raw response is not a success. */
export function throwIfError(response: RawResponse): void {
  if (response.status >= 400) throw errorFromBody(response.status, response.body);
}

/** The pause a `Retry-After` header asks for (delay-seconds or an HTTP date), ms; undefined when absent or unreadable. */
function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Sends requests to one server. */
export class HttpTransport {
  readonly #bases: readonly string[];
  #current = 0;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #fetch: typeof fetch;
  readonly #inFlight = new Set<AbortController>();
  #closed = false;

  constructor(options: TransportOptions) {
    const urls = [...(options.url === undefined ? [] : [options.url]), ...(options.endpoints ?? [])];
    this.#bases = [...new Set(urls.map((url) => url.replace(/\/+$/, '')))];
    if (this.#bases.length === 0 || this.#bases.some((url) => !URL.canParse(url))) {
      throw new InvalidInputError(
        'the client needs a url or endpoints: base URLs such as http://127.0.0.1:4747',
        {
          field: 'endpoints',
          value: urls,
        },
      );
    }
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#retries = options.retries ?? 4;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 2_000;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
  }

  /** The base URL requests go to now (with several endpoints: the one last answering). */
  get url(): string {
    return this.#base;
  }

  /** Every endpoint, in failover order. */
  get endpoints(): readonly string[] {
    return this.#bases;
  }

  get #base(): string {
    return this.#bases[this.#current]!;
  }

  // The next endpoint of the ring becomes current (no-op with one endpoint).
  #failOver(): void {
    this.#current = (this.#current + 1) % this.#bases.length;
  }

  /** Sends a request and returns the decoded JSON body; non-2xx answers throw the server's error. */
  async json<T>(spec: RequestSpec): Promise<T> {
    const response = await this.send(spec);
    throwIfError(response);
    return response.body as T;
  }

  /** Sends a request with retries; resolves with any final HTTP answer (4xx included). */
  async send(spec: RequestSpec): Promise<RawResponse> {
    if (this.#closed) throw new ClosedError('the client is closed', { url: this.#base });
    const writes = spec.method === 'POST' && spec.read !== true;
    // Web Crypto (global in Node and in edge runtimes), not node:crypto: the client needs only fetch and this.
    const idempotencyKey = writes ? (spec.idempotencyKey ?? crypto.randomUUID()) : undefined;
    const durableKey = writes && spec.idempotencyKey !== undefined;
    let lastError: unknown;
    // What the last answer asked for: a pause (Retry-After) and whether the server is known to be up.
    let askedPauseMs = 0;
    let serverAnswering = false;
    const backoff = new Backoff(this.#retryDelayMs, this.#maxRetryDelayMs);
    for (let attempt = 0; attempt <= this.#retries; attempt += 1) {
      if (attempt > 0) {
        await sleep(Math.max(askedPauseMs, backoff.next()));
        if (this.#closed) throw new ClosedError('the client was closed while retrying', { url: this.#base });
        // After a failure, ask /health first: a server that is restarting answers it before anything else.
        if (!serverAnswering && !(await this.healthy())) {
          lastError ??= new UnavailableError(`server ${this.#base} is not answering`);
          this.#failOver();
          continue;
        }
      }
      try {
        const response = await this.#once(spec, idempotencyKey, durableKey);
        // A 409 with Retry-After to a keyed write: the same key is still running on another server process
        // (shared idempotency records); like a 429, a working server asks to come back after the pause, and
        // the retry then gets the first request's answer. Other 409s carry no Retry-After and are final.
        const limited =
          response.status === 429 ||
          (response.status === 409 && idempotencyKey !== undefined && response.headers.has('retry-after'));
        if ((limited || response.status >= 500) && attempt < this.#retries) {
          const pause = retryAfterMs(response.headers) ?? 0;
          // A pause longer than the caller accepts: the answer goes back to the caller as it is.
          if (pause > this.#maxRetryAfterMs) return response;
          askedPauseMs = pause;
          lastError = errorFromBody(response.status, response.body);
          // A 429 comes from a server that works and chose to refuse for now: retry it, after its pause.
          serverAnswering = limited;
          if (!limited) this.#failOver();
          continue;
        }
        return response;
      } catch (error) {
        if (spec.signal?.aborted) throw error;
        if (error instanceof AgentStateError && error.code !== 'UNAVAILABLE') throw error;
        lastError = error;
        askedPauseMs = 0;
        serverAnswering = false;
        this.#failOver();
      }
    }
    if (lastError instanceof AgentStateError && lastError.code !== 'UNAVAILABLE') throw lastError;
    throw new UnavailableError(
      `server ${this.#base} is unreachable after ${this.#retries + 1} tries; check that agentstate serve is running`,
      { url: this.#base, path: spec.path },
      { cause: lastError },
    );
  }

  /** Whether GET /health answers 200 within a short time. */
  async healthy(): Promise<boolean> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.min(this.#timeoutMs, 2_000));
    try {
      const response = await this.#fetch(`${this.#base}/health`, { signal: controller.signal });
      await response.arrayBuffer();
      return response.status === 200;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Aborts requests in flight and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const controller of this.#inFlight) controller.abort(new ClosedError('the client was closed'));
    this.#inFlight.clear();
  }

  async #once(
    spec: RequestSpec,
    idempotencyKey: string | undefined,
    durableKey: boolean,
  ): Promise<RawResponse> {
    const url = new URL(this.#base + spec.path);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) for (const item of value) url.searchParams.append(key, String(item));
      else url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    // A key the caller chose is also kept by the store itself (see DURABLE_KEY_HEADER on the server).
    if (durableKey) headers['x-agentstate-durable-key'] = '1';
    let payload: string | undefined;
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(spec.body);
    }
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const abort = (): void => controller.abort(spec.signal?.reason);
    spec.signal?.addEventListener('abort', abort, { once: true });
    const timeoutMs = this.#timeoutMs + (spec.extraTimeoutMs ?? 0);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const response = await this.#fetch(url, {
        method: spec.method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: controller.signal,
      });
      const text = await response.text();
      // Plain text (Prometheus /metrics) is returned as it is; everything else the server sends is JSON.
      const plain = response.headers.get('content-type')?.startsWith('text/plain') ?? false;
      const body = text === '' ? undefined : plain ? text : (JSON.parse(text) as unknown);
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      if (this.#closed) throw new ClosedError('the client was closed', { url: this.#base });
      if (spec.signal?.aborted) throw spec.signal.reason;
      if (timedOut) {
        throw new TimeoutError(`${spec.method} ${spec.path} got no answer within ${timeoutMs} ms`, {
          url: this.#base,
          path: spec.path,
          timeoutMs,
        });
      }
      if (error instanceof SyntaxError)
        throw new AgentStateError('INTERNAL', 'server answered with invalid JSON');
      throw new UnavailableError(`cannot reach ${this.#base}`, { url: this.#base }, { cause: error });
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', abort);
      this.#inFlight.delete(controller);
    }
  }
}
