/**
 * Bearer-token authentication with scopes. The seed's HTTP store had no authentication at all; here every
 * request but the health checks needs a token once any token is configured.
 *
 * Tokens are kept only as SHA-256 digests and a presented token is hashed and compared against every
 * known digest with `timingSafeEqual`, without stopping at the first match, so neither the comparison nor
 * the loop leaks how much of a token was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '../errors.ts';

/** What a token may do: read < write < admin (each includes the ones before it). */
export type TokenScope = 'read' | 'write' | 'admin';

/** One configured token. */
export interface TokenSpec {
  /** The secret bearer token. */
  token: string;
  /** The highest scope it grants (default `admin`). */
  scope?: TokenScope;
  /** A name for logs (the token itself is never logged). */
  name?: string;
}

const RANK: Readonly<Record<TokenScope, number>> = { read: 1, write: 2, admin: 3 };

/** Every scope a token may have, lowest first. */
export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'write', 'admin'];

/** Whether `value` names a scope (own keys only: `in` would also accept inherited names such as 'toString'). */
export function isTokenScope(value: unknown): value is TokenScope {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

/** The start-up error for a scope that is not one of TOKEN_SCOPES; `where` says which token it was. */
function unknownScope(scope: unknown, where: Record<string, unknown>): InvalidInputError {
  return new InvalidInputError(
    `unknown token scope '${String(scope)}': use one of ${TOKEN_SCOPES.join(', ')}`,
    { ...where, scope, validScopes: [...TOKEN_SCOPES] },
  );
}

/** Whether `granted` includes `needed`. */
export function scopeAllows(granted: TokenScope, needed: TokenScope): boolean {
  return RANK[granted] >= RANK[needed];
}

interface HashedToken {
  digest: Buffer;
  scope: TokenScope;
  name: string;
}

/** The identity a valid token resolves to. */
export interface Principal {
  /** The token's name. */
  name: string;
  /** Its scope. */
  scope: TokenScope;
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** Checks bearer tokens in constant time. */
export class TokenAuthenticator {
  readonly #tokens: HashedToken[];

  constructor(tokens: readonly TokenSpec[]) {
    this.#tokens = tokens.map((spec, i) => {
      if (typeof spec.token !== 'string' || spec.token.length < 8) {
        throw new InvalidInputError('a token must be a string of at least 8 characters', { index: i });
      }
      const scope = spec.scope ?? 'admin';
      if (!isTokenScope(scope)) throw unknownScope(scope, { index: i });
      return { digest: digest(spec.token), scope, name: spec.name ?? `token${i + 1}` };
    });
  }

  /** Whether any token is configured (no tokens: the server is open and must bind to loopback). */
  get enabled(): boolean {
    return this.#tokens.length > 0;
  }

  /** The principal of a presented token, or undefined when it matches none. */
  authenticate(presented: string): Principal | undefined {
    const candidate = digest(presented);
    let found: HashedToken | undefined;
    for (const token of this.#tokens) {
      // No early exit: every digest is compared whatever the outcome.
      if (timingSafeEqual(candidate, token.digest) && found === undefined) found = token;
    }
    return found ? { name: found.name, scope: found.scope } : undefined;
  }
}

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Reads a tokens file: either a JSON array of `{ token, scope, name }`, or lines `token [scope] [name]`
 * (blank lines and `#` comments ignored).
 */
export async function readTokensFile(path: string): Promise<TokenSpec[]> {
  const text = await readFile(path, 'utf8');
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const parsed = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(parsed)) throw new InvalidInputError('tokens file must hold a JSON array', { path });
    parsed.forEach((spec: unknown, index) => {
      const scope = (spec as { scope?: unknown } | null)?.scope;
      if (scope !== undefined && !isTokenScope(scope)) throw unknownScope(scope, { path, index });
    });
    return parsed as TokenSpec[];
  }
  const specs: TokenSpec[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const content = line.trim();
    if (content === '' || content.startsWith('#')) continue;
    const [token = '', scope = 'admin', name] = content.split(/\s+/);
    if (!isTokenScope(scope)) throw unknownScope(scope, { path, line: index + 1 });
    specs.push({ token, scope, ...(name ? { name } : {}) });
  }
  return specs;
}

/**
 * Parses `--token` values of the form `secret` or `secret:scope`. Text after the last `:` is a scope and must
 * be one of TOKEN_SCOPES: a mistyped scope (`secret:reader`) is refused instead of becoming part of an admin
 * token. A secret that itself contains `:` is given with its scope (`a:b:admin`).
 */
export function parseTokenArgument(value: string): TokenSpec {
  const at = value.lastIndexOf(':');
  if (at <= 0) return { token: value, scope: 'admin' };
  const scope = value.slice(at + 1);
  if (!isTokenScope(scope)) {
    throw new InvalidInputError(
      `unknown token scope '${scope}' in --token: use one of ${TOKEN_SCOPES.join(', ')} after the last ':' (a token containing ':' needs its scope, e.g. 'secret:admin')`,
      { option: 'token', scope, validScopes: [...TOKEN_SCOPES] },
    );
  }
  return { token: value.slice(0, at), scope };
}
