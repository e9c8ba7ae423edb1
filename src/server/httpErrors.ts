/**
 * Maps AgentStateError codes to HTTP statuses and renders every error as `{ error: { code, message,
 * details } }`. Stack traces never leave the process: unexpected errors become `INTERNAL` with a generic
 * message, and the real error goes to the log.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AgentStateError, type ErrorCode, InvalidInputError } from '../errors.ts';
import { ReferenceBadRequestError } from './agl/referenceChecks.ts';
import { closestName } from './suggest.ts';
import { isReferenceRoute } from './validation.ts';

/** HTTP status for each error code. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  REVISION_CONFLICT: 409,
  PARALLEL_MERGE_CONFLICT: 409,
  BASE_REVISION_MISMATCH: 409,
  UNKNOWN_KEY: 400,
  UNKNOWN_TYPE: 422,
  CORRUPT_STATE: 500,
  CAPACITY_EXCEEDED: 413,
  RATE_LIMITED: 429,
  NOT_REPRESENTABLE: 422,
  TIMEOUT: 504,
  CLOSED: 503,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  UNAVAILABLE: 503,
  MISSING_DEPENDENCY: 500,
  INTERNAL: 500,
};

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: Record<string, unknown> };
  /**
   * Only on /v1/agl routes, as the reference's FastAPI server answers: the `HTTPValidationError` list of a
   * request that fails the schema (422), otherwise the message text (`HTTPException(status, detail)`).
   */
  detail?: string | Array<{ loc: Array<string | number>; msg: string; type: string }>;
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  /** The schema object that failed (ajv `verbose`, set on agentstate's own routes). */
  parentSchema?: { properties?: Record<string, unknown> };
}

/** Field path of an ajv issue: `body.rollouts[0].input`, counting a missing or unknown property in. */
function fieldOf(context: string, issue: ValidationIssue): string {
  const parts = (issue.instancePath ?? '').split('/').filter(Boolean);
  const named = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  if (typeof named === 'string') parts.push(named);
  return [context, ...parts].join('.');
}

/** Message and details of an unknown field: the fields the object takes, and the closest one. */
function unknownField(
  field: string,
  issue: ValidationIssue,
): { message: string; details: Record<string, unknown> } {
  const name = String(issue.params?.additionalProperty);
  const known = Object.keys(issue.parentSchema?.properties ?? {});
  const suggestion = closestName(name, known);
  const hint = suggestion
    ? `; did you mean ${suggestion}?`
    : known.length > 0
      ? `; known fields: ${known.join(', ')}`
      : '';
  return {
    message: `unknown field ${field}${hint}`,
    details: { knownFields: known, ...(suggestion ? { suggestion } : {}) },
  };
}

/** Turns any thrown value into a status and a safe body; on /v1/agl routes the body carries `detail` too. */
export function toErrorResponse(error: unknown, agl: boolean): { status: number; body: ErrorBody } {
  const response = errorResponse(error, agl);
  if (agl && response.body.detail === undefined) response.body.detail = response.body.error.message;
  return response;
}

function errorResponse(error: unknown, agl: boolean): { status: number; body: ErrorBody } {
  // INTERNAL errors carry a database's or the runtime's own text (PostgreSQL's "invalid byte sequence ...",
  // schema names): it goes to the log, the client gets the generic answer below.
  if (error instanceof AgentStateError && error.code !== 'INTERNAL') {
    // The reference answers its own request checks with 400 and schema failures with 422.
    const status =
      error instanceof ReferenceBadRequestError
        ? 400
        : agl && error.code === 'INVALID_INPUT'
          ? 422
          : STATUS_BY_CODE[error.code];
    return {
      status,
      body: { error: { code: error.code, message: error.message, details: { ...error.details } } },
    };
  }
  const fastifyError = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const context = fastifyError.validationContext ?? 'body';
    const issues = fastifyError.validation;
    const fields = issues.map((issue) => fieldOf(context, issue));
    const first = issues[0];
    const unknown =
      first?.keyword === 'additionalProperties' ? unknownField(fields[0] ?? context, first) : undefined;
    const body: ErrorBody = {
      error: {
        code: 'INVALID_INPUT',
        message:
          unknown?.message ??
          `invalid request ${context}: ${fields[0] ?? context} ${first?.message ?? 'is invalid'}`,
        details: { field: fields[0], fields, location: context, ...unknown?.details },
      },
    };
    if (agl) {
      // FastAPI names the locations body/query/path and gives array indices as numbers.
      const location = context === 'querystring' ? 'query' : context === 'params' ? 'path' : context;
      body.detail = issues.map((issue, i) => ({
        loc: [location, ...(fields[i] ?? context).split('.').slice(1)].map((part) =>
          /^\d+$/.test(part) ? Number(part) : part,
        ),
        msg: issue.message ?? 'invalid',
        type: issue.keyword ?? 'value_error',
      }));
    }
    return { status: agl ? 422 : 400, body };
  }
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status === 413) {
    return {
      status,
      body: {
        error: {
          code: 'CAPACITY_EXCEEDED',
          message: 'request body is larger than the server allows',
          details: {},
        },
      },
    };
  }
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad JSON, unsupported media type): their messages name no internals.
    return {
      status,
      body: {
        error: {
          code: 'INVALID_INPUT',
          message: fastifyError.message,
          details: { fastifyCode: fastifyError.code },
        },
      },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal server error; see the server log', details: {} } },
  };
}

/** Seconds a 503 asks the client to wait before trying again (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 1;
/**
 * The router's own errors (Fastify `frameworkErrors`), which Fastify would otherwise answer in its own
 * format: a path that is not valid percent-encoded UTF-8 (`%ED%A0%80`, `%zz`), and a path parameter longer
 * than `maxParamLength`. The messages leave the path out: it can be long and carry anything.
 */
export function frameworkErrorHandler(maxParamLength: number) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const send = (status: number, message: string, details: Record<string, unknown>) => {
      const coded = new InvalidInputError(message, { field: 'url', fastifyCode: error.code, ...details });
      void reply.status(status).send(toErrorResponse(coded, isReferenceRoute(request.url)).body);
    };
    if (error.code === 'FST_ERR_BAD_URL') send(400, 'the URL path is not valid percent-encoded UTF-8', {});
    else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      send(
        414,
        `a path parameter is longer than the server accepts (${maxParamLength} characters percent-encoded; ids are limited far below that, see docs/http-errors.md)`,
        { maxParamLength },
      );
    } else errorHandler(error, request, reply);
  };
}

/**
 * Errors of the HTTP parser, before Fastify sees a request (Node's `clientError`): headers or URL over
 * Node's `maxHeaderSize` (431), a request that took too long (408), bytes that are not HTTP (400). Answered
 * in the coded shape on the raw socket, which is then closed, as Node and Fastify do.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'CAPACITY_EXCEEDED', 'the request line and headers are larger than the server allows']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'TIMEOUT', 'the request was not received in time']
        : [400, 'INVALID_INPUT', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code, message, details: { reason: error.code ?? 'unknown' } } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Fastify error handler: logs unexpected errors, answers with the mapped status and body. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  // The reference's shape (422, `detail`) only on the reference's routes; the /v1/agl/x extensions are
  // agentstate's own and answer like the rest of it (their schemas refuse unknown fields, as 400).
  const { status, body } = toErrorResponse(error, isReferenceRoute(request.url));
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  // 503: the database (or Redis, or the closing server) is away for now; clients retry after a pause.
  if (status === 503) void reply.header('retry-after', RETRY_AFTER_SECONDS);
  const retryAfter = body.error.details.retryAfterSeconds;
  if (status === 429 && typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
  void reply.status(status).send(body);
}
