// Malformed bodies and queries are the caller's error: 400/422 with INVALID_INPUT and the offending field,
// never a 500, and nothing is stored from them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptedRollout, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

describe('malformed requests', () => {
  let store: InMemoryRolloutStore;
  let app: Awaited<ReturnType<typeof createServer>>;
  let rollout: AttemptedRollout;

  beforeAll(async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    rollout = await store.startRollout({ input: 1 });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers a paging number beyond the safe integers with 422 naming the field', async () => {
    for (const url of [
      '/v1/agl/rollouts?limit=99999999999999999999',
      `/v1/agl/spans?rollout_id=${rollout.rolloutId}&offset=1e300`,
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(422);
      expect(res.json().error.code).toBe('INVALID_INPUT');
      expect(['limit', 'offset']).toContain(res.json().error.details.field);
    }
  });

  it('answers an OTLP/JSON export of the wrong shape with 400 naming where, storing nothing', async () => {
    const ids = [
      { key: 'agentlightning.rollout_id', value: { stringValue: rollout.rolloutId } },
      { key: 'agentlightning.attempt_id', value: { stringValue: rollout.attempt.attemptId } },
    ];
    const good = { attributes: ids, traceId: 'aa', spanId: 'bb', name: 'ok' };
    const cases: Array<[unknown, string]> = [
      [{ resourceSpans: 5 }, 'body.resourceSpans'],
      [{ resourceSpans: [null] }, 'body.resourceSpans[0]'],
      [{ resourceSpans: [{ scopeSpans: 'x' }] }, 'body.resourceSpans[0].scopeSpans'],
      [
        { resourceSpans: [{ resource: { attributes: 5 }, scopeSpans: [] }] },
        'body.resourceSpans[0].resource',
      ],
      [
        { resourceSpans: [{ scopeSpans: [{ spans: [good, null] }] }] },
        'body.resourceSpans[0].scopeSpans[0].spans[1]',
      ],
      [
        { resourceSpans: [{ scopeSpans: [{ spans: [good, { ...good, spanId: 'cc', traceId: 5 }] }] }] },
        'body.resourceSpans[0].scopeSpans[0].spans[1]',
      ],
      [
        {
          resourceSpans: [
            { scopeSpans: [{ spans: [{ ...good, spanId: 'dd', attributes: [...ids, null] }] }] },
          ],
        },
        'body.resourceSpans[0].scopeSpans[0].spans[0]',
      ],
      [
        { resourceSpans: [{ scopeSpans: [{ spans: [{ ...good, spanId: 'ee', events: [null] }] }] }] },
        'body.resourceSpans[0].scopeSpans[0].spans[0]',
      ],
    ];
    for (const [payload, field] of cases) {
      const res = await app.inject({ method: 'POST', url: '/v1/traces', payload: payload as object });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'INVALID_INPUT', details: { field } });
    }
    expect((await store.querySpans(rollout.rolloutId)).total).toBe(0);
  });
});
