/**
 * Length limits of the names and ids the HTTP routes take, in one place so that route schemas, the stores'
 * own checks and the router agree: an id a route accepts in a body can always be read back in a path.
 * Lengths are UTF-16 code units (JavaScript `string.length`), as the stores count them.
 */
import { MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH } from '../drivers/index.ts';
import { MAX_ROLLOUT_ID_LENGTH } from '../rollouts/index.ts';

/** Longest TTL key, lock name or cooldown name. */
export const MAX_TTL_KEY_LENGTH = 1024;

/** Longest path parameter the router accepts: every id and name limit above, fully percent-encoded. */
export const MAX_PATH_PARAM_LENGTH =
  // A UTF-16 code unit takes at most 9 characters in a URL (`€` is %E2%82%AC; a surrogate pair is 12
  // characters for 2 code units).
  9 * Math.max(MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH, MAX_TTL_KEY_LENGTH, MAX_ROLLOUT_ID_LENGTH);

/** JSON schema of a non-empty string of at most `maxLength` code units. */
export function nameSchema(maxLength: number): { type: 'string'; minLength: 1; maxLength: number } {
  return { type: 'string', minLength: 1, maxLength };
}

/** JSON schema of the query of a listing paged by cursor: an optional id prefix, cursor and page size. */
export function prefixPageQuery(maximum: number) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      prefix: { type: 'string' },
      cursor: { type: 'string' },
      limit: { type: 'integer', minimum: 1, maximum },
    },
  } as const;
}

export { MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH, MAX_ROLLOUT_ID_LENGTH };
