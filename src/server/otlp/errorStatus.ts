/**
 * Error bodies of `POST /v1/traces` in the form OTLP/HTTP requires: every 4xx/5xx response carries a
 * `google.rpc.Status` encoded like the request (protobuf for a protobuf request, JSON otherwise), so OTLP
 * exporters can read and log the reason. The JSON form also carries agentstate's usual `error` object.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import protobuf from 'protobufjs';
import { toErrorResponse } from '../httpErrors.ts';

// google/rpc/status.proto and google/protobuf/any.proto, field for field.
const STATUS_PROTO = `
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
`;

/** The `google.rpc.Status` message type. */
export const RpcStatus = protobuf
  .parse(STATUS_PROTO, { keepCase: false })
  .root.lookupType('google.rpc.Status');

/** The gRPC status code (google.rpc.Code) that matches an HTTP error status. */
export function grpcCodeOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
    case 415:
    case 422:
      return 3; // INVALID_ARGUMENT
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 5; // NOT_FOUND
    case 409:
      return 10; // ABORTED
    case 413:
    case 429:
      return 8; // RESOURCE_EXHAUSTED
    case 503:
      return 14; // UNAVAILABLE
    case 504:
      return 4; // DEADLINE_EXCEEDED
    default:
      return httpStatus >= 500 ? 13 : 2; // INTERNAL : UNKNOWN
  }
}

/** Whether a request declared an OTLP protobuf body. */
export function isProtobufRequest(request: FastifyRequest): boolean {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return contentType === 'application/x-protobuf' || contentType === 'application/protobuf';
}

/** Route error handler of `/v1/traces`: the usual status mapping, with a `google.rpc.Status` body. */
export function otlpErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toErrorResponse(error, false);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  const code = grpcCodeOf(status);
  const message = `${body.error.code}: ${body.error.message}`;
  if (isProtobufRequest(request)) {
    const encoded = RpcStatus.encode(RpcStatus.fromObject({ code, message })).finish();
    void reply.status(status).header('content-type', 'application/x-protobuf').send(Buffer.from(encoded));
    return;
  }
  void reply.status(status).send({ code, message, details: [], error: body.error });
}
