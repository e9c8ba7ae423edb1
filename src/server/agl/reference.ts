/**
 * The Agent Lightning store API as its OpenAPI document describes it (a copy of
 * reference/agent-lightning-store-openapi.json ships beside this file). Routes are generated from the
 * document, so paths, methods, parameters and request schemas cannot drift from it; `$ref`s are inlined
 * because Fastify compiles one self-contained schema per route.
 */
import reference from './agentLightningOpenapi.json' with { type: 'json' };

/** A JSON Schema object. */
export type JsonSchema = Record<string, unknown>;

/** One operation of the reference. */
export interface ReferenceOperation {
  /** `GET`, `POST`. */
  method: 'GET' | 'POST';
  /** OpenAPI path, `/v1/agl/rollouts/{rollout_id}`. */
  path: string;
  /** Fastify path, `/v1/agl/rollouts/:rollout_id`. */
  url: string;
  /** The success status (200 or 201). */
  successStatus: number;
  /** Reference operation id. */
  operationId: string;
  /** Summary for /openapi.json. */
  summary: string;
  /** Request body schema, if any. */
  body?: JsonSchema;
  /** Query string schema, if any. */
  querystring?: JsonSchema;
  /** Path parameter schema, if any. */
  params?: JsonSchema;
  /** Success response schema (inlined). */
  response?: JsonSchema;
}

interface RawParameter {
  name: string;
  in: 'query' | 'path';
  required?: boolean;
  schema: JsonSchema;
}

interface RawOperation {
  operationId: string;
  summary?: string;
  parameters?: RawParameter[];
  requestBody?: { content?: { 'application/json'?: { schema?: JsonSchema } } };
  responses: Record<string, { content?: { 'application/json'?: { schema?: JsonSchema } } }>;
}

/** The reference document itself. */
export const AGL_REFERENCE = reference as unknown as {
  paths: Record<string, Record<string, RawOperation>>;
  components: { schemas: Record<string, JsonSchema> };
};

/** Inlines `#/components/schemas/X` references and drops OpenAPI-only keywords ajv does not know. */
export function inlineSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inlineSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const object = schema as JsonSchema;
  const ref = object.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    return inlineSchema(AGL_REFERENCE.components.schemas[name]);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(object)) {
    if (key === 'discriminator') continue;
    out[key] = inlineSchema(value);
  }
  return out;
}

/** `anyOf: [X, {type: 'null'}]` -> X: query strings cannot carry null, and ajv coerces X cleanly. */
function withoutNull(schema: JsonSchema): JsonSchema {
  const anyOf = schema.anyOf as JsonSchema[] | undefined;
  if (!anyOf) return schema;
  const rest = anyOf.filter((s) => s.type !== 'null');
  if (rest.length !== 1) return schema;
  const { anyOf: _drop, ...others } = schema;
  return { ...others, ...rest[0] };
}

function parametersSchema(parameters: RawParameter[]): JsonSchema {
  const properties: JsonSchema = {};
  const required: string[] = [];
  for (const p of parameters) {
    properties[p.name] = withoutNull(inlineSchema(p.schema) as JsonSchema);
    if (p.required) required.push(p.name);
  }
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}

/** The fields a span written to agentstate must have; the store fills the rest. */
const SPAN_REQUIRED = ['rollout_id', 'attempt_id', 'trace_id', 'span_id', 'name'];

/**
 * The span body of POST /v1/agl/spans, and of each span of agentstate's batch route. The reference requires
 * every span field, even `sequence_id`; agentstate accepts a span with only its ids and name (the store
 * issues the sequence id and fills empty defaults), so it accepts everything the reference accepts, and
 * more. The field types stay the reference's, so both routes refuse the same malformed spans.
 */
export function spanInputSchema(): JsonSchema & { type: 'object' } {
  return {
    ...(inlineSchema(AGL_REFERENCE.components.schemas['Span-Input']) as JsonSchema & { type: 'object' }),
    required: [...SPAN_REQUIRED],
  };
}

/** Every operation of the reference document, in document order. */
export function referenceOperations(): ReferenceOperation[] {
  const out: ReferenceOperation[] = [];
  for (const [path, methods] of Object.entries(AGL_REFERENCE.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const success = Object.keys(op.responses).find((code) => code.startsWith('2')) ?? '200';
      const query = (op.parameters ?? []).filter((p) => p.in === 'query');
      const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
      const body = op.requestBody?.content?.['application/json']?.schema;
      const response = op.responses[success]?.content?.['application/json']?.schema;
      out.push({
        method: method.toUpperCase() as 'GET' | 'POST',
        path,
        url: path.replace(/\{(\w+)\}/g, ':$1'),
        successStatus: Number(success),
        operationId: op.operationId,
        summary: op.summary ?? op.operationId,
        ...(body
          ? { body: path === '/v1/agl/spans' ? spanInputSchema() : (inlineSchema(body) as JsonSchema) }
          : {}),
        ...(query.length > 0 ? { querystring: parametersSchema(query) } : {}),
        ...(pathParams.length > 0 ? { params: parametersSchema(pathParams) } : {}),
        ...(response ? { response: inlineSchema(response) as JsonSchema } : {}),
      });
    }
  }
  return out;
}
