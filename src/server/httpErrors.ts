/**
 * Maps AgentStateError codes to HTTP statuses and renders every error as `{ error: { code, message,
 * details } }`. Stack traces never leave the process: unexpected errors become `INTERNAL` with a generic
 * message, and the real error goes to the log.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AgentStateError, type ErrorCode } from '../errors.ts';
import { ReferenceBadRequestError } from './agl/referenceChecks.ts';

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
  TIMEOUT: 504,
  CLOSED: 503,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  UNAVAILABLE: 503,
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
}

/** Field path of an ajv issue: `body.rollouts[0].input`, counting a missing required property in. */
function fieldOf(context: string, issue: ValidationIssue): string {
  const parts = (issue.instancePath ?? '').split('/').filter(Boolean);
  const missing = issue.params?.missingProperty;
  if (typeof missing === 'string') parts.push(missing);
  return [context, ...parts].join('.');
}

/** Turns any thrown value into a status and a safe body; on /v1/agl routes the body carries `detail` too. */
export function toErrorResponse(error: unknown, agl: boolean): { status: number; body: ErrorBody } {
  const response = errorResponse(error, agl);
  if (agl && response.body.detail === undefined) response.body.detail = response.body.error.message;
  return response;
}

function errorResponse(error: unknown, agl: boolean): { status: number; body: ErrorBody } {
  if (error instanceof AgentStateError) {
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
    const body: ErrorBody = {
      error: {
        code: 'INVALID_INPUT',
        message: `invalid request ${context}: ${fields[0] ?? context} ${issues[0]?.message ?? 'is invalid'}`,
        details: { field: fields[0], fields, location: context },
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

/** Fastify error handler: logs unexpected errors, answers with the mapped status and body. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const agl = request.url.startsWith('/v1/agl/');
  const { status, body } = toErrorResponse(error, agl);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  // 503: the database (or Redis, or the closing server) is away for now; clients retry after a pause.
  if (status === 503) void reply.header('retry-after', RETRY_AFTER_SECONDS);
  void reply.status(status).send(body);
}
