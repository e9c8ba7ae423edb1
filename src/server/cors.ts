/**
 * Cross-origin access (CORS) for browser pages served from another origin, such as a dashboard that calls
 * the Agent Lightning routes (the reference server's `cors_allow_origins`). Off unless origins are given.
 * Bearer tokens travel in the `Authorization` header, never in cookies, so credentials mode stays off: on a
 * server with tokens, a page of an allowed origin still needs a token, and `*` exposes only what a token
 * already grants. On a server without tokens every request is granted, so CORS would let any allowed page
 * (every page, with `*`) read and change the store through the user's browser, loopback binding or not:
 * that combination is refused unless explicitly marked insecure (`checkCorsNeedsTokens`).
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import { AgentStateError, InvalidInputError } from '../errors.ts';
import { DURABLE_KEY_HEADER, IDEMPOTENCY_HEADER, REPLAYED_HEADER } from './idempotency.ts';

/** Request headers a cross-origin page may send (answered in the preflight). */
export const CORS_ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'content-encoding',
  IDEMPOTENCY_HEADER,
  DURABLE_KEY_HEADER,
] as const;

/**
 * Checks the configured origins: `*` alone, or origins such as `https://dash.example.com` (scheme, host
 * and port, no path), compared exactly with a request's `Origin`.
 */
export function normalizeCorsOrigins(origins: readonly string[]): string[] {
  const cleaned = [...new Set(origins.map((origin) => origin.trim()).filter((origin) => origin !== ''))];
  if (cleaned.includes('*')) return ['*'];
  for (const origin of cleaned) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || parsed.origin !== origin) {
      throw new InvalidInputError(
        `CORS origin '${origin}' is not an origin: give scheme, host and port only, e.g. https://dash.example.com, or *`,
        { field: 'corsOrigins', value: origin },
      );
    }
  }
  return cleaned;
}

/**
 * Refuses CORS on a server without tokens unless `insecure` (the rule `listenServer` applies to
 * non-loopback hosts): without tokens, an allowed page could use the store through any visitor's browser.
 */
export function checkCorsNeedsTokens(
  origins: readonly string[],
  tokensEnabled: boolean,
  insecure: boolean,
): void {
  if (origins.length === 0 || tokensEnabled || insecure) return;
  throw new AgentStateError(
    'FORBIDDEN',
    `refusing CORS for ${origins.join(' ')} without authentication: any page of those origins could read and change the store through a user's browser; give tokens (--token or --tokens-file), or pass --insecure`,
    { field: 'corsOrigins' },
  );
}

/** Registers CORS for `origins` (none: CORS stays off and browsers keep the same-origin rule). */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  const allowed = normalizeCorsOrigins(origins);
  if (allowed.length === 0) return;
  await app.register(cors, {
    origin: allowed[0] === '*' ? '*' : allowed,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: [...CORS_ALLOWED_HEADERS],
    exposedHeaders: [REPLAYED_HEADER, 'allow'],
    credentials: false,
    maxAge: 600,
  });
}
