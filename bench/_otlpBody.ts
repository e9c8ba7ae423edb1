/**
 * The OTLP protobuf export the server benchmarks send: `spanCount` spans of one attempt, with the rollout and
 * attempt ids as resource attributes (as Agent Lightning's exporter sets them); span ids derive from `batch`.
 */
import { ExportTraceServiceRequest } from '../src/server/otlp/traceProto.ts';

/** One encoded `ExportTraceServiceRequest` body. */
export function otlpBody(rolloutId: string, attemptId: string, batch: number, spanCount: number): Buffer {
  const str = (value: string) => ({ stringValue: value });
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: str('bench-runner') },
            { key: 'agentlightning.rollout_id', value: str(rolloutId) },
            { key: 'agentlightning.attempt_id', value: str(attemptId) },
          ],
        },
        scopeSpans: [
          {
            spans: Array.from({ length: spanCount }, (_, i) => ({
              traceId: Buffer.alloc(16, 7),
              spanId: Buffer.from(
                `${batch.toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`,
                'hex',
              ),
              name: 'llm.call',
              kind: 3,
              startTimeUnixNano: String(1767225600000000000n + BigInt(i) * 1000000n),
              endTimeUnixNano: String(1767225600500000000n + BigInt(i) * 1000000n),
              attributes: [
                { key: 'gen_ai.model', value: str('qwen') },
                { key: 'gen_ai.usage.tokens', value: { intValue: 120 + i } },
              ],
              status: { code: 1 },
            })),
          },
        ],
      },
    ],
  });
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}
