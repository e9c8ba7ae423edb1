import { checkTtlMs } from '../drivers/index.ts';
import { InvalidInputError } from '../errors.ts';
import { compileKeyPattern, type KeyPattern, shadows } from './keyPattern.ts';

/** One routing rule: keys matching `pattern` go to `backend`, written with `ttlMs` unless a put gives one. */
export interface PersistenceRule {
  /** Glob on `category:id` (see keyPattern.ts): `agents:*`, `cache:tmp-*`, `*`. First match wins. */
  pattern: string;
  /** Name of a declared backend. */
  backend: string;
  /** Time to live of documents written under this rule, ms; a document's own `ttlMs` overrides it. */
  ttlMs?: number;
}

/** A checked rule. */
export interface CompiledRule {
  readonly pattern: KeyPattern;
  readonly backend: string;
  readonly ttlMs: number | undefined;
}

/** Reports a configuration error at a field such as `rules[2].backend`; never returns. */
export type ConfigFailure = (field: string, message: string) => never;

/** The failure of an object configuration: `INVALID_INPUT` naming the field. */
export const failInObject: ConfigFailure = (field, message) => {
  throw new InvalidInputError(`${field}: ${message}`, { field });
};

/**
 * Checks the default backend and the rules against the declared backends and compiles them. A rule
 * naming an undeclared backend, a pattern that can never match (malformed, or shadowed by an earlier
 * rule) and a TTL that is not a positive finite number are errors naming the field.
 */
export function compileRules(
  defaultBackend: unknown,
  rules: unknown,
  backends: readonly string[],
  fail: ConfigFailure,
): CompiledRule[] {
  const known = (name: unknown, field: string) => {
    if (typeof name !== 'string' || !backends.includes(name)) {
      fail(
        field,
        `${JSON.stringify(name)} is not a declared backend (declared: ${backends.join(', ') || 'none'})`,
      );
    }
  };
  known(defaultBackend, 'defaultBackend');
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) fail('rules', 'must be a list of { pattern, backend, ttlMs? }');
  const compiled: CompiledRule[] = [];
  (rules as unknown[]).forEach((rule, i) => {
    const at = `rules[${i}]`;
    if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) {
      fail(at, 'must be { pattern, backend, ttlMs? }');
    }
    const r = rule as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!['pattern', 'backend', 'ttlMs'].includes(key)) {
        fail(`${at}.${key}`, `unknown option; a rule has pattern, backend and ttlMs`);
      }
    }
    if (typeof r.pattern !== 'string') fail(`${at}.pattern`, 'must be a string such as "agents:*"');
    const pattern = compileKeyPattern(r.pattern as string);
    if (typeof pattern === 'string')
      fail(`${at}.pattern`, `'${r.pattern as string}' can never match: ${pattern}`);
    const p = pattern as KeyPattern;
    const earlier = compiled.findIndex((c) => shadows(c.pattern, p));
    if (earlier >= 0) {
      fail(
        `${at}.pattern`,
        `'${p.source}' can never match: rules[${earlier}] ('${compiled[earlier]!.pattern.source}') takes every key it matches`,
      );
    }
    known(r.backend, `${at}.backend`);
    if (r.ttlMs !== undefined) {
      try {
        checkTtlMs(r.ttlMs);
      } catch {
        fail(
          `${at}.ttlMs`,
          `must be a positive finite number of milliseconds, got ${JSON.stringify(r.ttlMs)}`,
        );
      }
    }
    compiled.push({ pattern: p, backend: r.backend as string, ttlMs: r.ttlMs as number | undefined });
  });
  return compiled;
}
