/** Reference handlers of spans: add one, list or search a rollout's, and the next sequence id. */
import { spanFromWire, spanToWire } from '../agl/wire.ts';
import { type AglContext, type AglHandler, body, writeOptions } from './aglContext.ts';
import { type AglListings, spanQuery } from './aglListings.ts';

/** Handlers of the span operations, by `METHOD path`. */
export function spanHandlers(
  { store, metrics, time }: AglContext,
  listings: AglListings,
): Record<string, AglHandler> {
  return {
    'POST /v1/agl/spans': async (r) => {
      const span = await time('addSpan', () => store.addSpan(spanFromWire(body(r)), writeOptions(r)));
      if (span) metrics.spansIngested.inc({ source: 'agl' });
      return span ? spanToWire(span) : null;
    },
    'GET /v1/agl/spans': async (r) =>
      listings.spans(r.query.rollout_id as string, spanQuery(r.query, 'query')),
    'POST /v1/agl/spans/search': async (r) => {
      const b = body(r);
      return listings.spans(b.rollout_id as string, spanQuery(b, 'body'));
    },
    'POST /v1/agl/spans/next': async (r) => {
      const b = body(r);
      const sequenceId = await time('getNextSpanSequenceId', () =>
        store.getNextSpanSequenceId(b.rollout_id as string, b.attempt_id as string),
      );
      return { sequence_id: sequenceId };
    },
  };
}
