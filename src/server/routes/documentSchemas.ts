/** JSON schemas of the routes over documents: `/v1/state` and the dashboard's document and thread reads. */
import { MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH, nameSchema } from '../limits.ts';

/** Path parameters of a document route. */
export const idParams = {
  type: 'object',
  required: ['namespace', 'id'],
  properties: {
    namespace: nameSchema(MAX_NAMESPACE_LENGTH),
    id: nameSchema(MAX_ID_LENGTH),
  },
} as const;

/** A stored document, as the routes answer it. */
export const documentSchema = {
  type: 'object',
  properties: {
    namespace: { type: 'string' },
    id: { type: 'string' },
    value: {},
    revision: { type: 'integer' },
    createdAt: { type: 'number' },
    updatedAt: { type: 'number' },
    metadata: { type: 'object', additionalProperties: true },
    expiresAt: { type: 'number' },
  },
} as const;

/** The error answer, `{ error: { code, message, details } }`. */
export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;
