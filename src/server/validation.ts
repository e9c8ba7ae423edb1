/**
 * Request validation with ajv. Query strings, path parameters and headers arrive as text, so they are
 * coerced (`limit=5` -> 5, one `status_in` -> an array). JSON bodies are not: with coercion a span attribute
 * `3` would match the `string` branch of the reference's `anyOf` and be stored as `"3"`.
 *
 * Unknown fields depend on the route family. agentstate's own routes (/v1/state, /v1/ttl, /v1/sessions and
 * the /v1/agl/x extensions) refuse them: a mistyped `expected_revision` silently dropped would turn a
 * compare-and-set into a blind write. The Agent Lightning routes follow their reference, whose server
 * ignores fields it does not know, so clients of newer or older versions keep working.
 */
import { Ajv, type Options } from 'ajv';
import type { FastifyInstance } from 'fastify';

/** Whether a route belongs to the Agent Lightning reference API (unknown fields ignored there). */
export function isReferenceRoute(url: string): boolean {
  return url.startsWith('/v1/agl/') && !url.startsWith('/v1/agl/x/');
}

const shared: Options = {
  // The Agent Lightning reference uses OpenAPI keywords (discriminator) and defaults inside anyOf.
  strict: false,
  useDefaults: true,
  allErrors: false,
};
// Reference routes: extra fields are dropped where a schema closes an object, and ignored elsewhere.
const lenient: Options = { ...shared, removeAdditional: true };
// Own routes: an extra field is an error; `verbose` keeps the schema on the error so the error handler can
// list the known fields and suggest the closest one.
const strict: Options = { ...shared, removeAdditional: false, verbose: true };

/** Installs the validator compiler on `app`. */
export function registerValidation(app: FastifyInstance): void {
  const compilers = {
    reference: {
      text: new Ajv({ ...lenient, coerceTypes: 'array' }),
      json: new Ajv({ ...lenient, coerceTypes: false }),
    },
    own: {
      text: new Ajv({ ...strict, coerceTypes: 'array' }),
      json: new Ajv({ ...strict, coerceTypes: false }),
    },
  };
  app.setValidatorCompiler(({ schema, httpPart, url }) => {
    const family = isReferenceRoute(url) ? compilers.reference : compilers.own;
    return (httpPart === 'body' ? family.json : family.text).compile(schema as object);
  });
}
