/**
 * Agent Lightning's TypeScript runner exports its spans with the OpenTelemetry JS OTLP exporters (the real
 * @opentelemetry packages, sending their own headers over a real socket). It numbers spans from 0, the root
 * span first (`agentlightning.span_sequence_id = 0`), and names the rollout and attempt on the resource.
 */
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptedRollout, InMemoryRolloutStore } from '../../../src/index.ts';
import { createServer } from '../../../src/server/createServer.ts';
import { listenServer } from '../../../src/server/listen.ts';

const SEQUENCE = 'agentlightning.span_sequence_id';

describe('Agent Lightning TypeScript runner (OpenTelemetry JS OTLP exporter) against agentstate', () => {
  let store: InMemoryRolloutStore;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    base = await listenServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  /** A root span numbered 0 with two children numbered 1 and 2, as the runner records one agent run. */
  async function runAgent(rollout: AttemptedRollout, exporter: SpanExporter, asText: boolean) {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': 'agl-ts-runner',
        'agentlightning.rollout_id': rollout.rolloutId,
        'agentlightning.attempt_id': rollout.attempt.attemptId,
      }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('agentlightning');
    const number = (n: number) => ({ [SEQUENCE]: asText ? String(n) : n });
    const root = tracer.startSpan('agentlightning.rollout', { attributes: number(0) });
    const rootContext = trace.setSpan(context.active(), root);
    for (const [n, name] of [
      [1, 'openai.chat'],
      [2, 'agentlightning.reward'],
    ] as const) {
      tracer.startSpan(name, { attributes: number(n) }, rootContext).end();
    }
    // Children end (and are exported) before the root, as in a real run.
    root.end();
    await provider.forceFlush();
    await provider.shutdown();
  }

  for (const [label, exporter, asText] of [
    [
      'protobuf exporter, gzip, integer ids',
      () => new ProtoExporter({ url: `${base}/v1/traces`, compression: 'gzip' as never }),
      false,
    ],
    ['JSON exporter, decimal-text ids', () => new JsonExporter({ url: `${base}/v1/traces` }), true],
  ] as const) {
    it(`keeps sequence id 0 for the root span (${label})`, async () => {
      const rollout = await store.startRollout({ input: label });
      await runAgent(rollout, exporter(), asText);
      const spans = await store.querySpans(rollout.rolloutId);
      expect(spans.items.map((s) => [s.sequenceId, s.name])).toEqual([
        [0, 'agentlightning.rollout'],
        [1, 'openai.chat'],
        [2, 'agentlightning.reward'],
      ]);
      const root = spans.items[0]!;
      expect(spans.items.slice(1).every((child) => child.parentId === root.spanId)).toBe(true);
      // The next number the store issues comes after the ones the runner gave.
      expect(await store.getNextSpanSequenceId(rollout.rolloutId, rollout.attempt.attemptId)).toBe(3);
    });
  }
});
