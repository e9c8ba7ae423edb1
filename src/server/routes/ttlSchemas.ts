/** JSON schemas the `/v1/ttl` route files share (`as const`, so handlers take their types from them). */
import { MAX_TTL_KEY_LENGTH, nameSchema } from '../limits.ts';

/** Path parameters of a key route. */
export const keyParams = {
  type: 'object',
  required: ['key'],
  properties: { key: nameSchema(MAX_TTL_KEY_LENGTH) },
} as const;

/** Path parameters of a lock or cooldown route. */
export const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: nameSchema(MAX_TTL_KEY_LENGTH) },
} as const;

/** A time to live, ms. */
export const ttlMsSchema = { type: 'integer', minimum: 1 } as const;

/** A body holding only a required `ttlMs` (expire, cooldown). */
export const ttlMsBody = {
  type: 'object',
  required: ['ttlMs'],
  additionalProperties: false,
  properties: { ttlMs: ttlMsSchema },
} as const;
