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
      // Own keys only: `in` would also accept inherited names such as 'toString'.
      if (!Object.hasOwn(RANK, scope))
        throw new InvalidInputError(`unknown token scope '${scope}'`, { index: i, scope });
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
    return parsed as TokenSpec[];
  }
  const specs: TokenSpec[] = [];
  for (const line of trimmed.split(/\r?\n/)) {
    const content = line.trim();
    if (content === '' || content.startsWith('#')) continue;
    const [token = '', scope, name] = content.split(/\s+/);
    specs.push({ token, scope: (scope ?? 'admin') as TokenScope, ...(name ? { name } : {}) });
  }
  return specs;
}

/** Parses `--token` values of the form `secret` or `secret:scope`. */
export function parseTokenArgument(value: string): TokenSpec {
  const at = value.lastIndexOf(':');
  const scope = at > 0 ? value.slice(at + 1) : '';
  if (scope === 'read' || scope === 'write' || scope === 'admin') return { token: value.slice(0, at), scope };
  return { token: value, scope: 'admin' };
}
