// The depth limit holds on every way in: OTLP attribute values (kvlist and array AnyValues, JSON and
// protobuf), spans added through the library API, and the in-memory TTL store used as a library.
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH } from '../../src/codec/index.ts';
import { TtlStore } from '../../src/index.ts';
import { otlpToSpans } from '../../src/server/otlp/toSpans.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from '../rollouts/backends.ts';
import { postgresRolloutFactory } from '../rollouts/postgresBackend.ts';

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

// An OTLP AnyValue: `depth` arrays (alternating arrayValue and kvlistValue) around an int.
function anyValue(depth: number): unknown {
  let value: unknown = { intValue: 1 };
  for (let i = 0; i < depth; i++) {
    value =
      i % 2 === 0 ? { arrayValue: { values: [value] } } : { kvlistValue: { values: [{ key: 'k', value }] } };
  }
  return value;
}

function otlpRequest(value: unknown): Parameters<typeof otlpToSpans>[0] {
  return {
    resourceSpans: [
      {
        resource: { attributes: [] },
        scopeSpans: [
          {
            spans: [
              { traceId: 'ab', spanId: 'cd', name: 'ok', attributes: [{ key: 'fine', value: anyValue(3) }] },
              {
                traceId: 'ab',
                spanId: 'ce',
                name: 'deep',
                attributes: [
                  { key: 'agentlightning.rollout_id', value: { stringValue: 'ro-1' } },
                  { key: 'deep', value },
                ],
              },
            ],
          },
        ],
      },
    ],
  } as never;
}

describe('depth limit on every way in', () => {
  it('OTLP: an attribute value nested deeper than MAX_DEPTH is INVALID_INPUT naming the attribute', () => {
    expect(() => otlpToSpans(otlpRequest(anyValue(MAX_DEPTH)))).not.toThrow();
    for (const depth of [MAX_DEPTH + 1, 100_000]) {
      let caught: unknown;
      try {
        otlpToSpans(otlpRequest(anyValue(depth)));
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({
        code: 'INVALID_INPUT',
        details: {
          path: 'body.resourceSpans[0].scopeSpans[0].spans[1].attributes.deep',
          maxDepth: MAX_DEPTH,
        },
      });
    }
  });

  // Every backend checks the depth on the JSON text it stores, so each is tried.
  it.each([memoryRolloutFactory, sqliteRolloutFactory, postgresRolloutFactory])(
    'library spans ($name): addSpan and addManySpans refuse a value too deep, naming the path; nothing stored',
    async (factory) => {
      if (!(await factory.available())) return;
      const fixture = await factory.create({ healthCheckIntervalMs: 0 });
      const store = fixture.store;
      try {
        const rollout = await store.startRollout({ input: 1 });
        const span = (attributes: Record<string, unknown>, spanId = 's1') => ({
          rolloutId: rollout.rolloutId,
          attemptId: rollout.attempt.attemptId,
          traceId: 't',
          spanId,
          name: 'n',
          attributes: attributes as never,
        });
        await expect(store.addSpan(span({ deep: nested(100_000) }))).rejects.toMatchObject({
          code: 'INVALID_INPUT',
          details: { path: expect.stringMatching(/^spans\[0\]\.attributes\.deep\[0\]/), maxDepth: MAX_DEPTH },
        });
        await expect(
          store.addManySpans([span({ a: 1 }, 's2'), span({ deep: nested(MAX_DEPTH) }, 's3')]),
        ).rejects.toMatchObject({
          code: 'INVALID_INPUT',
          details: { path: expect.stringMatching(/^spans\[1\]/) },
        });
        expect((await store.querySpans(rollout.rolloutId)).items).toEqual([]);
        expect(await store.addSpan(span({ fine: nested(10) }, 's4'))).toMatchObject({ spanId: 's4' });
        // Many shallow containers (more brackets than MAX_DEPTH) are walked and accepted.
        const wide = Array.from({ length: 2 * MAX_DEPTH }, (_, i) => ({ i }));
        expect(await store.addSpan(span({ wide }, 's5'))).toMatchObject({ spanId: 's5' });
      } finally {
        await fixture.cleanup();
      }
    },
  );

  it('TtlStore: set refuses a value too deep with INVALID_INPUT naming the key path; the old value stays', () => {
    const ttl = new TtlStore<unknown>();
    try {
      ttl.set('k', { ok: true });
      expect(() => ttl.set('k', nested(100_000))).toThrow(
        expect.objectContaining({
          code: 'INVALID_INPUT',
          details: expect.objectContaining({ maxDepth: MAX_DEPTH }),
        }),
      );
      let caught: { details?: { path?: string } } | undefined;
      try {
        ttl.set('k', { a: nested(MAX_DEPTH) });
      } catch (error) {
        caught = error as typeof caught;
      }
      expect(caught?.details?.path).toMatch(/^k\.a\[0\]/);
      expect(ttl.get('k')).toEqual({ ok: true });
      ttl.set('k', nested(MAX_DEPTH));
    } finally {
      ttl.close?.();
    }
  });
});
