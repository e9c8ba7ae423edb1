import { gzipSync } from 'node:zlib';
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as HttpExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptedRollout, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { listenServer } from '../../src/server/listen.ts';
import { RpcStatus } from '../../src/server/otlp/errorStatus.ts';
import { decodeProtobufRequest } from '../../src/server/otlp/toSpans.ts';

describe('POST /v1/traces (OTLP/HTTP)', () => {
  let store: InMemoryRolloutStore;
  let app: FastifyInstance;
  let base: string;
  let rollout: AttemptedRollout;

  beforeAll(async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    base = await listenServer(app, { host: '127.0.0.1', port: 0 });
    rollout = await store.startRollout({ input: 'otlp' });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  async function exportWith(exporter: SpanExporter, names: string[], where: 'span' | 'resource') {
    const ids = {
      'agentlightning.rollout_id': rollout.rolloutId,
      'agentlightning.attempt_id': rollout.attempt.attemptId,
    };
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'runner', ...(where === 'resource' ? ids : {}) }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('test');
    const parent = tracer.startSpan('parent', { attributes: where === 'span' ? ids : {} });
    // No global context manager is registered: the parent is passed explicitly.
    const parentContext = trace.setSpan(context.active(), parent);
    for (const name of names) {
      const attributes = { ...(where === 'span' ? ids : {}), 'gen_ai.tokens': 7, tags: ['a', 'b'] };
      const child = tracer.startSpan(name, { attributes }, parentContext);
      child.addEvent('chunk', { index: 1 });
      child.end();
    }
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();
  }

  it('stores spans sent by the protobuf exporter, gzip-compressed, with ids on the spans', async () => {
    await exportWith(
      new ProtoExporter({ url: `${base}/v1/traces`, compression: 'gzip' as never }),
      ['proto.a', 'proto.b'],
      'span',
    );
    const spans = await store.querySpans(rollout.rolloutId, { nameContains: 'proto.' });
    expect(spans.items.map((s) => s.name).sort()).toEqual(['proto.a', 'proto.b']);
    const span = spans.items[0]!;
    expect(span.attributes['gen_ai.tokens']).toBe(7);
    expect(span.attributes.tags).toEqual(['a', 'b']);
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.parentId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.events[0]).toMatchObject({ name: 'chunk', attributes: { index: 1 } });
    expect(span.resource.attributes['service.name']).toBe('runner');
    expect(span.startTime).toBeGreaterThan(1e9);
  });

  it('stores spans sent by the JSON exporter, with ids on the resource', async () => {
    await exportWith(new HttpExporter({ url: `${base}/v1/traces` }), ['json.a'], 'resource');
    const spans = await store.querySpans(rollout.rolloutId, { nameContains: 'json.' });
    expect(spans.items.map((s) => s.name)).toEqual(['json.a']);
    const parents = await store.querySpans(rollout.rolloutId, { name: 'parent' });
    expect(parents.total).toBe(2);
  });

  const jsonSpan = (name: string, attributes: Array<{ key: string; value: { stringValue: string } }>) => ({
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: `b7ad6b71692033${String(name.length).padStart(2, '0')}`,
    name,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000001000000000',
    attributes,
    status: { code: 2, message: 'failed' },
  });

  it('rejects spans without ids and reports the count (partial success), storing the rest', async () => {
    const ids = [
      { key: 'agentlightning.rollout_id', value: { stringValue: rollout.rolloutId } },
      { key: 'agentlightning.attempt_id', value: { stringValue: rollout.attempt.attemptId } },
      { key: 'agentlightning.span_sequence_id', value: { stringValue: '500' } },
    ];
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [{ spans: [jsonSpan('kept', ids), jsonSpan('no-ids', []), jsonSpan('no-ids-2', [])] }],
        },
      ],
    };
    const response = await fetch(`${base}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify(body)),
    });
    expect(response.status).toBe(200);
    const result = (await response.json()) as {
      partialSuccess: { rejectedSpans: number; errorMessage: string };
    };
    expect(result.partialSuccess.rejectedSpans).toBe(2);
    expect(result.partialSuccess.errorMessage).toMatch(/agentlightning.rollout_id/);
    const kept = await store.querySpans(rollout.rolloutId, { name: 'kept' });
    expect(kept.items[0]).toMatchObject({
      sequenceId: 500,
      status: { statusCode: 'ERROR', description: 'failed' },
      startTime: 1700000000,
    });
  });

  it('rejects a bad span alone, storing the good spans of its attempt (OTLP partial success)', async () => {
    const ids = [
      { key: 'agentlightning.rollout_id', value: { stringValue: rollout.rolloutId } },
      { key: 'agentlightning.attempt_id', value: { stringValue: rollout.attempt.attemptId } },
    ];
    const span = (spanId: string, name: string) => ({ ...jsonSpan(name, ids), spanId });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      payload: {
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  span('good-1', 'batch.good'),
                  span('nul-name', 'bad\u0000name'),
                  span('x'.repeat(1_000_000), 'batch.huge-id'),
                  span('good-2', 'batch.good'),
                ],
              },
            ],
          },
        ],
      },
    });
    expect(response.statusCode).toBe(200);
    const { partialSuccess } = response.json();
    expect(partialSuccess.rejectedSpans).toBe(2);
    expect(partialSuccess.errorMessage).toContain('2 invalid span(s)');
    expect(partialSuccess.errorMessage).toContain('name contains a NUL character');
    expect(partialSuccess.errorMessage).toContain('spanId is 1000000 characters long');
    expect(partialSuccess.errorMessage.length).toBeLessThan(2000);
    const good = await store.querySpans(rollout.rolloutId, { name: 'batch.good' });
    expect(good.items.map((s) => s.spanId)).toEqual(['good-1', 'good-2']);
  });

  it('rejects spans of unknown rollouts without losing the others', async () => {
    const unknown = [
      { key: 'agentlightning.rollout_id', value: { stringValue: 'ro-unknown' } },
      { key: 'agentlightning.attempt_id', value: { stringValue: 'at-unknown' } },
    ];
    const response = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      payload: { resourceSpans: [{ scopeSpans: [{ spans: [jsonSpan('lost', unknown)] }] }] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().partialSuccess.rejectedSpans).toBe(1);
  });

  it('answers malformed protobuf with 400', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/x-protobuf' },
      payload: Buffer.from([0x0a, 0xff, 0xff, 0xff]),
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('application/x-protobuf');
    const status = RpcStatus.toObject(RpcStatus.decode(response.rawPayload));
    expect(status.code).toBe(3); // INVALID_ARGUMENT
    expect(status.message).toMatch(/^INVALID_INPUT: body is not a valid OTLP ExportTraceServiceRequest/);
  });

  it('answers a bad JSON export with a JSON Status that also carries the error code', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/json' },
      payload: '[1, 2]',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 3,
      message: expect.stringMatching(/^INVALID_INPUT: /),
      details: [],
      error: { code: 'INVALID_INPUT', details: { field: 'body' } },
    });
  });

  it('answers a corrupt gzip body with a protobuf Status', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      payload: Buffer.from('not gzip at all'),
    });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(RpcStatus.decode(response.rawPayload).toJSON().code).toBe(3);
  });

  it('answers a missing token with 401 and a protobuf Status', async () => {
    const secured = await createServer({
      rollouts: store,
      tokens: [{ token: 'otlp-writer-token', scope: 'write' }],
    });
    try {
      const payload = Buffer.from([]);
      const denied = await secured.inject({
        method: 'POST',
        url: '/v1/traces',
        headers: { 'content-type': 'application/x-protobuf' },
        payload,
      });
      expect(denied.statusCode).toBe(401);
      const status = RpcStatus.toObject(RpcStatus.decode(denied.rawPayload));
      expect(status).toMatchObject({ code: 16, message: expect.stringMatching(/^UNAUTHORIZED: /) });
      const allowed = await secured.inject({
        method: 'POST',
        url: '/v1/traces',
        headers: { 'content-type': 'application/x-protobuf', authorization: 'Bearer otlp-writer-token' },
        payload,
      });
      expect(allowed.statusCode).toBe(200);
    } finally {
      await secured.close();
    }
  });

  it('decodes an empty protobuf request', () => {
    expect(decodeProtobufRequest(new Uint8Array())).toEqual({});
  });

  it('counts ingested spans in /metrics', async () => {
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/agentstate_spans_ingested_total\{source="otlp"\} [1-9]/);
    expect(metrics.body).toMatch(/agentstate_spans_rejected_total [1-9]/);
  });
});
