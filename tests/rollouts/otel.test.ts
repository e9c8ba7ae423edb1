// addOtelSpan with spans from the real OpenTelemetry SDK (a dev dependency; the store does not need it).
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { InMemoryRolloutStore, type ReadableSpanLike, spanFromOtel } from '../../src/index.ts';

function finishedSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'runner-1' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('agent');
  const parent = tracer.startSpan('agent.run');
  const child = tracer.startSpan(
    'openai.chat',
    { attributes: { 'gen_ai.request.model': 'qwen', 'gen_ai.usage.output_tokens': 42, tags: ['a', 'b'] } },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent('token', { index: 1 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' });
  child.end();
  parent.end();
  const [childSpan, parentSpan] = exporter.getFinishedSpans();
  return { childSpan: childSpan!, parentSpan: parentSpan! };
}

describe('addOtelSpan with OpenTelemetry SDK spans', () => {
  it('stores a ReadableSpan with its parent, attributes, events, status and resource', async () => {
    const { childSpan, parentSpan } = finishedSpans();
    const store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    const r = await store.startRollout({ input: 1 });
    const parent = await store.addOtelSpan(r.rolloutId, r.attempt.attemptId, parentSpan);
    const child = await store.addOtelSpan(r.rolloutId, r.attempt.attemptId, childSpan);
    expect(parent?.parentId).toBeNull();
    expect(child).toMatchObject({
      name: 'openai.chat',
      traceId: parentSpan.spanContext().traceId,
      spanId: childSpan.spanContext().spanId,
      parentId: parentSpan.spanContext().spanId,
      status: { statusCode: 'ERROR', description: 'rate limited' },
      attributes: { 'gen_ai.request.model': 'qwen', 'gen_ai.usage.output_tokens': 42, tags: ['a', 'b'] },
      resource: { attributes: { 'service.name': 'runner-1' } },
      sequenceId: 2,
    });
    expect(child?.events[0]).toMatchObject({ name: 'token', attributes: { index: 1 } });
    expect(child!.startTime).toBeCloseTo(childSpan.startTime[0] + childSpan.startTime[1] / 1e9, 6);
    expect(child!.endTime! >= child!.startTime!).toBe(true);
    await store.close();
  });

  it('reads the parent from the SDK 1.x parentSpanId field too', () => {
    const { childSpan } = finishedSpans();
    const legacy: ReadableSpanLike = {
      name: childSpan.name,
      spanContext: () => childSpan.spanContext(),
      parentSpanId: 'feedfacefeedface',
      startTime: childSpan.startTime,
      endTime: childSpan.endTime,
      status: childSpan.status,
      attributes: childSpan.attributes,
      events: childSpan.events,
      links: childSpan.links,
    };
    const converted = spanFromOtel('ro-1', 'at-1', legacy);
    expect(converted.parentId).toBe('feedfacefeedface');
    expect(converted.parent).toMatchObject({
      spanId: 'feedfacefeedface',
      traceId: childSpan.spanContext().traceId,
    });
    expect(converted.sequenceId).toBeUndefined();
  });
});
