/**
 * Request validation with two ajv instances. Query strings, path parameters and headers arrive as text,
 * so they are coerced (`limit=5` -> 5, one `status_in` -> an array). JSON bodies are not: with coercion a
 * span attribute `3` would match the `string` branch of the reference's `anyOf` and be stored as `"3"`.
 */
import { Ajv, type Options } from 'ajv';
import type { FastifyInstance } from 'fastify';

const shared: Options = {
  // The Agent Lightning reference uses OpenAPI keywords (discriminator) and defaults inside anyOf.
  strict: false,
  useDefaults: true,
  removeAdditional: true,
  allErrors: false,
};

/** Installs the validator compiler on `app`. */
export function registerValidation(app: FastifyInstance): void {
  const text = new Ajv({ ...shared, coerceTypes: 'array' });
  const json = new Ajv({ ...shared, coerceTypes: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? json : text).compile(schema as object),
  );
}
