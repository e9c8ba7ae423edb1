/**
 * Keeps secrets out of logs. Resources carry LLM api keys and requests carry bearer tokens; neither may
 * reach a log line. Pino's `redact` covers the known header paths; `scrubSecrets` covers anything else
 * that is logged as an object (error details, resources), at any depth.
 */

/** Property names whose values are secrets, matched case-insensitively on their letters only. */
const SECRET_NAME = /(api_?key|token|secret|password|passwd|authorization|cookie|credential|private_?key)/i;

/** Whether a property name looks like it holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

// Query parameters also carry secrets under short conventional names (`?key=` for API keys, `?sig=` for
// signed URLs, `?auth=`), which would be too broad for object properties; and signed URLs name their
// signature with a prefix (`X-Amz-Signature`, `X-Goog-Signature`, `hmac_sig`): any name ending in
// `signature` or `sig` is one.
const SECRET_QUERY_NAME = /^(key|auth|access|code)$|sig(nature)?$/i;

/**
 * `url` with the value of every query parameter whose name looks like a secret replaced by `[redacted]`
 * (`/v1/x?api_key=sk-1&limit=5` -> `/v1/x?api_key=[redacted]&limit=5`). The rest is kept byte for byte.
 */
export function redactUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // An undecodable name is judged as written.
      }
      return eq >= 0 && (isSecretName(name) || SECRET_QUERY_NAME.test(name)) ? `${rawName}=[redacted]` : pair;
    });
  return `${url.slice(0, at)}?${query.join('&')}`;
}

/** Objects deeper than this are logged as `[truncated]`: they are not searched, so they cannot be shown. */
const MAX_SCRUB_DEPTH = 8;

/**
 * A deep copy of `value` with every secret-looking property replaced by `[redacted]`, and every object or
 * array nested deeper than 8 levels replaced by `[truncated]` (a secret inside it would not be found).
 */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_SCRUB_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.map((item) => scrubSecrets(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    Object.defineProperty(out, key, {
      value:
        isSecretName(key) && inner !== null && inner !== undefined
          ? '[redacted]'
          : scrubSecrets(inner, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Pino redact paths for request and response headers. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
];
