/**
 * `POST /v1/traces`: OTLP/HTTP trace ingest, protobuf or JSON, gzip or plain. Spans are grouped by
 * attempt and stored in one transaction per attempt; spans of unknown rollouts/attempts and spans without
 * ids are reported as rejected (OTLP partial success) while the others are stored. Errors answer with a
 * `google.rpc.Status` body in the request's encoding (see ../otlp/errorStatus.ts).
 */
import type { FastifyInstance } from 'fastify';
import { AgentStateError, errorMessage, InvalidInputError } from '../../errors.ts';
import type { RolloutStore, SpanInput } from '../../rollouts/index.ts';
import { normalizeSpan } from '../../rollouts/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import { isProtobufRequest, otlpErrorHandler } from '../otlp/errorStatus.ts';
import { decodeProtobufRequest, type OtlpExportRequest, otlpToSpans } from '../otlp/toSpans.ts';
import { ExportTraceServiceResponse } from '../otlp/traceProto.ts';

/** Outcome of one export request. */
export interface OtlpIngestResult {
  /** Spans stored (duplicates included: they were already stored). */
  accepted: number;
  /** Spans refused. */
  rejected: number;
  /** Why, when some were refused. */
  errorMessage: string;
}

/** How many individual span problems a partial-success message lists before summarising the rest. */
const MAX_REASONS = 10;

/** Stores the spans of an export request. */
export async function ingestOtlp(store: RolloutStore, request: OtlpExportRequest): Promise<OtlpIngestResult> {
  const { spans, rejected: withoutIds } = otlpToSpans(request);
  const reasons: string[] = [];
  if (withoutIds > 0)
    reasons.push(`${withoutIds} span(s) without agentlightning.rollout_id/attempt_id attributes`);
  // Each span is checked on its own first, so one bad span (a NUL in its name, a 1 MB id) is rejected alone
  // instead of failing the transaction of every good span of its attempt.
  const invalid: string[] = [];
  const groups = new Map<string, SpanInput[]>();
  for (const [index, span] of spans.entries()) {
    try {
      normalizeSpan(span, index);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      invalid.push(error.message);
      continue;
    }
    const key = `${span.rolloutId}\u0000${span.attemptId}`;
    const group = groups.get(key);
    if (group) group.push(span);
    else groups.set(key, [span]);
  }
  if (invalid.length > 0) {
    const shown = invalid.slice(0, MAX_REASONS).join('; ');
    const more = invalid.length > MAX_REASONS ? `; and ${invalid.length - MAX_REASONS} more` : '';
    reasons.push(`${invalid.length} invalid span(s): ${shown}${more}`);
  }
  let accepted = 0;
  let rejected = withoutIds + invalid.length;
  for (const group of groups.values()) {
    try {
      await store.addManySpans(group);
      accepted += group.length;
    } catch (error) {
      if (!(error instanceof AgentStateError) || error.code === 'INTERNAL' || error.code === 'CLOSED')
        throw error;
      rejected += group.length;
      reasons.push(
        `${group.length} span(s) of ${group[0]!.rolloutId}/${group[0]!.attemptId}: ${error.message}`,
      );
    }
  }
  return { accepted, rejected, errorMessage: reasons.join('; ') };
}

/** Registers the OTLP trace route. */
export function registerOtlpRoutes(app: FastifyInstance, store: RolloutStore, metrics: ServerMetrics): void {
  app.post(
    '/v1/traces',
    {
      schema: {
        tags: ['otlp'],
        summary: 'OTLP/HTTP trace export (application/x-protobuf or application/json, optionally gzip)',
        operationId: 'otlp_traces',
      },
      // Also covers this route's hooks and body parsing (auth, size limit, gzip): OTLP wants a Status body.
      errorHandler: otlpErrorHandler,
    },
    async (request, reply) => {
      const isProtobuf = isProtobufRequest(request);
      let exportRequest: OtlpExportRequest;
      if (isProtobuf) {
        try {
          exportRequest = decodeProtobufRequest(request.body as Buffer);
        } catch (error) {
          throw new InvalidInputError('body is not a valid OTLP ExportTraceServiceRequest', {
            field: 'body',
            reason: errorMessage(error),
          });
        }
      } else {
        const body = request.body;
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          throw new InvalidInputError('body must be an OTLP/JSON ExportTraceServiceRequest object', {
            field: 'body',
          });
        }
        exportRequest = body as OtlpExportRequest;
      }
      const result = await metrics.time('rollouts', 'otlpIngest', () => ingestOtlp(store, exportRequest));
      metrics.spansIngested.inc({ source: 'otlp' }, result.accepted);
      if (result.rejected > 0) metrics.spansRejected.inc(result.rejected);
      const partialSuccess =
        result.rejected > 0
          ? { rejectedSpans: result.rejected, errorMessage: result.errorMessage }
          : undefined;
      if (isProtobuf) {
        const message = ExportTraceServiceResponse.fromObject(partialSuccess ? { partialSuccess } : {});
        return reply
          .header('content-type', 'application/x-protobuf')
          .send(Buffer.from(ExportTraceServiceResponse.encode(message).finish()));
      }
      return reply.send(partialSuccess ? { partialSuccess } : {});
    },
  );
}
