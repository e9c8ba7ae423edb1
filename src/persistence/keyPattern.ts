/**
 * Glob patterns on `category:id` keys. The part before the first `:` matches the namespace, the rest the
 * id (a pattern without `:` matches the namespace, any id); `*` matches any run of characters, `?` one UTF-16 code unit,
 * everything else itself. Path globbers (picomatch, minimatch) were not used: they stop `*` at `/`,
 * and ids are data that may contain `/` and `:`.
 */

/** A compiled pattern. */
export interface KeyPattern {
  /** The pattern as written. */
  readonly source: string;
  /** The namespace part as written. */
  readonly namespaceGlob: string;
  /** Matches the namespace part. */
  readonly namespace: RegExp;
  /** Matches the id part; undefined when it is `*` (every id). */
  readonly id: RegExp | undefined;
}

// Characters a namespace may hold (see drivers/shared/validate.ts) plus the glob characters.
const NAMESPACE_GLOB = /^[A-Za-z0-9_.:*?-]+$/;

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const ch of glob) {
    if (ch === '*') source += '[^]*';
    else if (ch === '?') source += '[^]';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * Compiles a pattern, or returns why it can never match a key (empty, or a namespace part with
 * characters no namespace can hold).
 */
export function compileKeyPattern(pattern: string): KeyPattern | string {
  if (pattern.length === 0) return 'an empty pattern matches no key';
  const colon = pattern.indexOf(':');
  const namespaceGlob = colon < 0 ? pattern : pattern.slice(0, colon);
  const idGlob = colon < 0 ? '*' : pattern.slice(colon + 1);
  if (namespaceGlob.length === 0 || !NAMESPACE_GLOB.test(namespaceGlob)) {
    return `namespace part '${namespaceGlob}' can hold no namespace (letters, digits, '_', '.', ':', '-' and the globs '*', '?')`;
  }
  if (idGlob.length === 0) return 'an empty id part matches no document (ids are never empty)';
  return {
    source: pattern,
    namespaceGlob,
    namespace: globToRegExp(namespaceGlob),
    id: idGlob === '*' ? undefined : globToRegExp(idGlob),
  };
}

/** Whether every key `later` matches is matched by `earlier` already (so `later` can never win). */
export function shadows(earlier: KeyPattern, later: KeyPattern): boolean {
  if (earlier.id !== undefined) return earlier.source === later.source;
  return earlier.namespaceGlob === '*' || earlier.namespaceGlob === later.namespaceGlob;
}

/** Whether a key matches. */
export function matchesKey(pattern: KeyPattern, namespace: string, id: string): boolean {
  return pattern.namespace.test(namespace) && (pattern.id === undefined || pattern.id.test(id));
}
