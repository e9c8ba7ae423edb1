/**
 * Request types from the routes' own JSON schemas. A route registered on `typedRoutes(app)` gets
 * `request.params`, `.query`, `.body` and `.headers` typed by json-schema-to-ts from the schema object it
 * hands Fastify, so the handler's type and what ajv validates are one object and cannot drift apart.
 * A schema written inline in the route keeps its literal types by itself; one declared apart (shared by
 * several routes) needs `as const`. Types only: validation, coercion and defaults stay ajv's
 * (./validation.ts).
 */
import type { FastifyInstance, FastifyTypeProvider } from 'fastify';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/** Fastify type provider: a request part's type is `FromSchema` of its schema. */
export interface SchemaTypeProvider extends FastifyTypeProvider {
  readonly validator: this['schema'] extends JSONSchema ? FromSchema<this['schema']> : unknown;
  // Responses keep Fastify's default (unknown): their schemas document the answer for /openapi.json and
  // several are partial on purpose, so they do not constrain what a handler returns.
  readonly serializer: unknown;
}

/** `app`, typed so that each route's request parts follow its schema (the same instance, no copy). */
export function typedRoutes(app: FastifyInstance) {
  return app.withTypeProvider<SchemaTypeProvider>();
}

/** A Fastify instance whose routes take their request types from their schemas. */
export type TypedApp = ReturnType<typeof typedRoutes>;
