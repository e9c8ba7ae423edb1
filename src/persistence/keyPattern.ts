/**
 * Glob patterns on `category:id` keys. The part before the first `:` matches the namespace, the rest the
 * id (a pattern without `:` matches the namespace, any id); `*` matches any run of characters, `?` one UTF-16 code unit,
 * everything else itself. Path globbers (picomatch, minimatch) were not used: they stop `*` at `/`,
 * and ids are data that may contain `/` and `:`.
 */

import { MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH } from '../drivers/index.ts';

/** A compiled pattern. */
export interface KeyPattern {
  /** The pattern as written. */
  readonly source: string;
  /** The namespace part as written. */
  readonly namespaceGlob: string;
  /** Matches the namespace part. */
  readonly namespace: RegExp;
  /** Whether an id matches the id part; undefined when it is `*` (every id). */
  readonly id: ((id: string) => boolean) | undefined;
}

// Characters a namespace may hold (see drivers/shared/validate.ts) plus the glob characters, except ':':
// the namespace part ends at the pattern's first ':', so it never holds one.
const NAMESPACE_GLOB = /^[A-Za-z0-9_.*?-]+$/;
// A namespace starts with a letter, a digit or '_', so a glob starting with another literal matches none.
const NAMESPACE_START = /^[A-Za-z0-9_*?]/;

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
 * A test of one string against a glob. Ids are tested on every routed call when a rule looks at them,
 * so the common globs skip the regular expression: a literal is a comparison, `prefix*` a startsWith,
 * `*suffix` an endsWith.
 */
function globMatcher(glob: string): (text: string) => boolean {
  const literal = (part: string) => !part.includes('*') && !part.includes('?');
  if (literal(glob)) return (text) => text === glob;
  if (glob.endsWith('*') && literal(glob.slice(0, -1))) {
    const prefix = glob.slice(0, -1);
    return (text) => text.startsWith(prefix);
  }
  if (glob.startsWith('*') && literal(glob.slice(1))) {
    const suffix = glob.slice(1);
    return (text) => text.endsWith(suffix);
  }
  const inner = glob.slice(1, -1);
  if (glob.startsWith('*') && glob.endsWith('*') && glob.length > 1 && literal(inner)) {
    return (text) => text.includes(inner);
  }
  const re = globToRegExp(glob);
  return (text) => re.test(text);
}

// Fewest UTF-16 code units a glob matches: every character but '*' stands for one.
const shortestMatch = (glob: string) => glob.length - glob.split('*').length + 1;

/**
 * Compiles a pattern, or returns why it can never match a key: empty; a namespace part that no
 * namespace can satisfy (characters no namespace holds, a symbol first, longer than the longest
 * namespace); an id part that no id can satisfy (empty, longer than the longest id, holding NUL).
 */
export function compileKeyPattern(pattern: string): KeyPattern | string {
  if (pattern.length === 0) return 'an empty pattern matches no key';
  const colon = pattern.indexOf(':');
  const namespaceGlob = colon < 0 ? pattern : pattern.slice(0, colon);
  const idGlob = colon < 0 ? '*' : pattern.slice(colon + 1);
  if (namespaceGlob.length === 0) {
    return "the namespace part (before the first ':') is empty, and namespaces never are";
  }
  if (!NAMESPACE_GLOB.test(namespaceGlob)) {
    return `namespace part '${namespaceGlob}' (before the first ':') can hold no namespace: namespaces hold letters, digits, '_', '.', '-' (and ':', matched by '?' or '*' here), globs '*' and '?'`;
  }
  if (!NAMESPACE_START.test(namespaceGlob)) {
    return `namespace part '${namespaceGlob}' starts with '${namespaceGlob[0]}', and namespaces start with a letter, a digit or '_'`;
  }
  if (shortestMatch(namespaceGlob) > MAX_NAMESPACE_LENGTH) {
    return `namespace part '${namespaceGlob.slice(0, 32)}...' needs at least ${shortestMatch(namespaceGlob)} characters; namespaces have at most ${MAX_NAMESPACE_LENGTH}`;
  }
  if (idGlob.length === 0) return 'an empty id part matches no document (ids are never empty)';
  if (idGlob.includes('\0')) return 'the id part holds NUL, which no id holds';
  if (shortestMatch(idGlob) > MAX_ID_LENGTH) {
    return `the id part needs at least ${shortestMatch(idGlob)} characters; ids have at most ${MAX_ID_LENGTH}`;
  }
  return {
    source: pattern,
    namespaceGlob,
    namespace: globToRegExp(namespaceGlob),
    id: idGlob === '*' ? undefined : globMatcher(idGlob),
  };
}

/** Whether every key `later` matches is matched by `earlier` already (so `later` can never win). */
export function shadows(earlier: KeyPattern, later: KeyPattern): boolean {
  if (earlier.id !== undefined) return earlier.source === later.source;
  return earlier.namespaceGlob === '*' || earlier.namespaceGlob === later.namespaceGlob;
}

/** Whether a key matches. */
export function matchesKey(pattern: KeyPattern, namespace: string, id: string): boolean {
  return pattern.namespace.test(namespace) && (pattern.id === undefined || pattern.id(id));
}
