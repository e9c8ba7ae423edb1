/**
 * Bounds on long-poll waits (`POST /v1/agl/waits/rollouts`): each open wait holds a socket and a waiter
 * until its rollouts finish, which may be never, so the number open at once is capped per server and per
 * token. Waits over the cap are refused with RATE_LIMITED at once instead of queued.
 */
import { Gauge } from 'prom-client';
import { RateLimitedError } from '../errors.ts';
import { integerOption } from '../shared/integerOption.ts';
import type { ServerMetrics } from './metrics.ts';

/** What a refused wait is told to wait before trying again (`Retry-After`): a wait frees its slot when it ends. */
const RETRY_AFTER_SECONDS = 1;

/** Default cap on waits open at once in one server process. */
export const DEFAULT_MAX_WAITS = 10_000;
/** Default cap on waits open at once per token (only when tokens are configured). */
export const DEFAULT_MAX_WAITS_PER_TOKEN = 1_000;

/** Caps of `WaitLimits`. */
export interface WaitLimitOptions {
  /** Waits open at once in this server (default 10,000). */
  maxWaits?: number;
  /** Waits open at once per token (default 1,000); without tokens only `maxWaits` applies. */
  maxWaitsPerToken?: number;
}

/** Counts the open waits of one server. */
export class WaitLimits {
  readonly #max: number;
  readonly #maxPerToken: number;
  readonly #byToken = new Map<string, number>();
  #open = 0;

  /** Caps checked here; the open count is exported as `agentstate_rollout_waits_open`. */
  constructor(options: WaitLimitOptions, metrics: ServerMetrics) {
    this.#max = integerOption(options.maxWaits, DEFAULT_MAX_WAITS, 'maxWaits', 1);
    this.#maxPerToken = integerOption(
      options.maxWaitsPerToken,
      DEFAULT_MAX_WAITS_PER_TOKEN,
      'maxWaitsPerToken',
      1,
    );
    const limits = this;
    new Gauge({
      name: 'agentstate_rollout_waits_open',
      help: 'Long-poll waits for rollouts open at once',
      registers: [metrics.registry],
      collect() {
        this.set(limits.open);
      },
    });
  }

  /** Waits open now. */
  get open(): number {
    return this.#open;
  }

  /** Admits one wait of `token` (undefined: no tokens configured) and returns its release; RATE_LIMITED over a cap. */
  admit(token: string | undefined): () => void {
    if (this.#open >= this.#max) {
      throw new RateLimitedError(
        `this server already holds ${this.#max} open waits (maxWaits); retry later or wait with a timeout`,
        { limit: 'maxWaits', max: this.#max, retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    }
    const mine = token === undefined ? 0 : (this.#byToken.get(token) ?? 0);
    if (token !== undefined && mine >= this.#maxPerToken) {
      throw new RateLimitedError(
        `token ${token} already holds ${this.#maxPerToken} open waits (maxWaitsPerToken); retry later`,
        { limit: 'maxWaitsPerToken', max: this.#maxPerToken, token, retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    }
    this.#open++;
    if (token !== undefined) this.#byToken.set(token, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      if (token === undefined) return;
      const left = (this.#byToken.get(token) ?? 1) - 1;
      if (left === 0) this.#byToken.delete(token);
      else this.#byToken.set(token, left);
    };
  }
}
