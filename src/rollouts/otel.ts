/**
 * Conversion of an OpenTelemetry ReadableSpan (SDK 1.x or 2.x shape) to the store's Span, as the
 * reference's `Span.from_opentelemetry` does. Structural: the OpenTelemetry SDK is not needed at runtime.
 */
import type { Attributes, AttributeValue, ReadableSpanLike, SpanContext, SpanInput } from './types.ts';

const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;

function hrTimeToSeconds(time: readonly [number, number] | undefined): number | null {
  if (time === undefined) return null;
  const [seconds, nanos] = time;
  if (seconds === 0 && nanos === 0) return null;
  return seconds + nanos / 1e9;
}

function isAttributeValue(value: unknown): value is AttributeValue {
  const t = typeof value;
  if (t === 'string' || t === 'boolean' || t === 'number') return true;
  return Array.isArray(value) && value.every((v) => ['string', 'boolean', 'number'].includes(typeof v));
}

/** Attributes with undefined/null values dropped (OTel allows them, JSON does not keep them). */
export function toAttributes(source: Readonly<Record<string, unknown>> | undefined): Attributes {
  const out: Attributes = {};
  if (source === undefined) return out;
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (isAttributeValue(value)) out[key] = value;
    else if (value !== undefined && value !== null) out[key] = String(value);
  }
  return out;
}

function parseTraceState(serialized: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!serialized) return out;
  for (const entry of serialized.split(',')) {
    const at = entry.indexOf('=');
    if (at > 0) out[entry.slice(0, at).trim()] = entry.slice(at + 1).trim();
  }
  return out;
}

function context(ctx: { traceId: string; spanId: string; isRemote?: boolean }, traceState = ''): SpanContext {
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    isRemote: ctx.isRemote ?? false,
    traceState: parseTraceState(traceState),
  };
}

/** The store span for a ReadableSpan of the given rollout and attempt (sequenceId absent: the store issues one). */
export function spanFromOtel(
  rolloutId: string,
  attemptId: string,
  span: ReadableSpanLike,
  sequenceId?: number,
): SpanInput {
  const own = span.spanContext();
  const parentSpanId = span.parentSpanContext?.spanId ?? span.parentSpanId ?? null;
  const parent =
    span.parentSpanContext !== undefined
      ? context(span.parentSpanContext)
      : parentSpanId !== null
        ? { traceId: own.traceId, spanId: parentSpanId, isRemote: false, traceState: {} }
        : null;
  return {
    rolloutId,
    attemptId,
    ...(sequenceId === undefined ? {} : { sequenceId }),
    traceId: own.traceId,
    spanId: own.spanId,
    parentId: parentSpanId,
    name: span.name,
    status: {
      statusCode: STATUS_CODES[span.status.code] ?? 'UNSET',
      description: span.status.message ?? null,
    },
    attributes: toAttributes(span.attributes),
    events: span.events.map((event) => ({
      name: event.name,
      attributes: toAttributes(event.attributes),
      timestamp: hrTimeToSeconds(event.time),
    })),
    links: span.links.map((link) => ({
      context: context(link.context),
      attributes: toAttributes(link.attributes),
    })),
    startTime: hrTimeToSeconds(span.startTime),
    endTime: hrTimeToSeconds(span.endTime),
    context: context(own, own.traceState?.serialize()),
    parent,
    resource: {
      attributes: toAttributes(span.resource?.attributes),
      schemaUrl: span.resource?.schemaUrl ?? '',
    },
  };
}
