/**
 * OTLP export requests (protobuf decoded to objects, or OTLP/JSON) -> Agent Lightning spans. Each span
 * must name its rollout and attempt with the `agentlightning.rollout_id` and `agentlightning.attempt_id`
 * attributes, on the span or on its resource (span wins); `agentlightning.span_sequence_id` is optional
 * (the store issues the next one). Spans without ids are counted as rejected, per OTLP partial success.
 */
import { setOwn } from '../../codec/index.ts';
import { AgentStateError, errorMessage, InvalidInputError } from '../../errors.ts';
import type { Attributes, AttributeValue, SpanContext, SpanInput } from '../../rollouts/index.ts';
import { ExportTraceServiceRequest } from './traceProto.ts';

/** Attribute naming the rollout of a span. */
export const ROLLOUT_ID_ATTRIBUTE = 'agentlightning.rollout_id';
/** Attribute naming the attempt of a span. */
export const ATTEMPT_ID_ATTRIBUTE = 'agentlightning.attempt_id';
/** Attribute carrying the span's sequence id. */
export const SEQUENCE_ID_ATTRIBUTE = 'agentlightning.span_sequence_id';

// The shapes below cover both encodings: protobufjs objects (ids as bytes, 64-bit numbers as strings)
// and OTLP/JSON (ids as hex strings, 64-bit numbers as strings or numbers).
type Bytes = Uint8Array | string | undefined;
type Long = string | number | undefined;
interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Long;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: Bytes;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface OtlpSpan {
  traceId?: Bytes;
  spanId?: Bytes;
  traceState?: string;
  parentSpanId?: Bytes;
  name?: string;
  startTimeUnixNano?: Long;
  endTimeUnixNano?: Long;
  attributes?: KeyValue[];
  events?: Array<{ timeUnixNano?: Long; name?: string; attributes?: KeyValue[] }>;
  links?: Array<{ traceId?: Bytes; spanId?: Bytes; traceState?: string; attributes?: KeyValue[] }>;
  status?: { code?: number | string; message?: string };
}
/** An export request in either encoding. */
export interface OtlpExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    schemaUrl?: string;
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

/** Decodes a protobuf `ExportTraceServiceRequest`. */
export function decodeProtobufRequest(body: Uint8Array): OtlpExportRequest {
  const message = ExportTraceServiceRequest.decode(body);
  return ExportTraceServiceRequest.toObject(message, {
    // Every 64-bit value ends up as a number (nanoseconds -> seconds, int attributes), and a Long's own
    // conversion rounds exactly as parsing its decimal text would, without printing that text first
    // (a third of toObject's time).
    longs: Number,
    enums: Number,
    defaults: false,
  }) as OtlpExportRequest;
}

function hex(id: Bytes): string {
  if (id === undefined) return '';
  if (typeof id === 'string') return id.toLowerCase();
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

const seconds = (nanos: Long): number | null => {
  if (nanos === undefined || nanos === '' || nanos === 0 || nanos === '0') return null;
  return Number(nanos) / 1e9;
};

function plainValue(value: AnyValue | undefined): unknown {
  if (!value) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plainValue);
  if (value.kvlistValue) {
    const out: Record<string, unknown> = {};
    for (const kv of value.kvlistValue.values ?? []) setOwn(out, kv.key, plainValue(kv.value));
    return out;
  }
  if (value.bytesValue !== undefined) {
    return typeof value.bytesValue === 'string'
      ? value.bytesValue
      : Buffer.from(value.bytesValue).toString('base64');
  }
  return null;
}

/**
 * The items of a repeated OTLP field: absent is empty. OTLP/JSON arrives unchecked, so anything else that is
 * not an array is refused (a string would otherwise be iterated character by character).
 */
function items<T>(value: T[] | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TypeError('expected an array');
  return value;
}

/** OTLP attributes -> span attributes; values outside the model's types (maps, mixed arrays) become JSON text. */
function attributes(list: KeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of items(list)) {
    const plain = plainValue(value);
    let stored: AttributeValue;
    if (typeof plain === 'string' || typeof plain === 'number' || typeof plain === 'boolean') stored = plain;
    else if (
      Array.isArray(plain) &&
      plain.every((v) => typeof v === typeof plain[0] && v !== null && typeof v !== 'object')
    ) {
      stored = plain as AttributeValue;
    } else stored = JSON.stringify(plain);
    Object.defineProperty(out, key, { value: stored, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function traceState(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of (text ?? '').split(',')) {
    const at = entry.indexOf('=');
    if (at > 0) setOwn(out, entry.slice(0, at).trim(), entry.slice(at + 1).trim());
  }
  return out;
}

const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;

function statusCode(code: number | string | undefined): 'UNSET' | 'OK' | 'ERROR' {
  if (typeof code === 'number') return STATUS_CODES[code] ?? 'UNSET';
  if (code === 'STATUS_CODE_OK') return 'OK';
  if (code === 'STATUS_CODE_ERROR') return 'ERROR';
  return 'UNSET';
}

/**
 * The sequence id a span carries, as the reference reads it: any integer >= 0, as a number or decimal text.
 * 0 is a real id (Agent Lightning's TypeScript runner numbers spans from 0, the root first); anything else
 * (negative, fractional, not a number) leaves the span without one, and the store issues the next.
 */
function givenSequenceId(value: AttributeValue | undefined): number | undefined {
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

const idOf = (value: AttributeValue | undefined): string | undefined =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;

/**
 * The spans of a request, and how many were rejected for lack of rollout/attempt ids. A request of the
 * wrong shape (possible only in OTLP/JSON, which is not schema-checked) is INVALID_INPUT naming the first
 * malformed part, `body.resourceSpans[0].scopeSpans[1].spans[2]`, and yields no spans.
 */
export function otlpToSpans(request: OtlpExportRequest): { spans: SpanInput[]; rejected: number } {
  const at: Position = { resource: -1, scope: -1, span: -1, part: '' };
  try {
    return convert(request, at);
  } catch (error) {
    if (error instanceof AgentStateError) throw error;
    const field = otlpPath(at);
    throw new InvalidInputError(`${field} is not valid OTLP: ${errorMessage(error)}`, {
      field,
      reason: errorMessage(error),
    });
  }
}

/**
 * Where the conversion is: indices (-1: not there yet) and a field below them, kept as numbers so the
 * happy path builds no path strings.
 */
interface Position {
  resource: number;
  scope: number;
  span: number;
  part: string;
}

/** The path `otlpToSpans` was at, for its error. */
function otlpPath(at: Position): string {
  let path = 'body.resourceSpans';
  if (at.resource >= 0) path += `[${at.resource}]`;
  if (at.scope >= 0) path += `.scopeSpans[${at.scope}]`;
  if (at.span >= 0) path += `.spans[${at.span}]`;
  return at.part === '' ? path : `${path}.${at.part}`;
}

function convert(request: OtlpExportRequest, at: Position): { spans: SpanInput[]; rejected: number } {
  const spans: SpanInput[] = [];
  let rejected = 0;
  const resourceList = items(request.resourceSpans);
  for (let r = 0; r < resourceList.length; r++) {
    const resourceSpans = resourceList[r]!;
    at.resource = r;
    at.scope = -1;
    at.span = -1;
    at.part = '';
    if (typeof resourceSpans !== 'object' || resourceSpans === null)
      throw new TypeError('expected an object');
    at.part = 'resource';
    const resourceAttributes = attributes(resourceSpans.resource?.attributes);
    at.part = 'scopeSpans';
    const resource = { attributes: resourceAttributes, schemaUrl: resourceSpans.schemaUrl ?? '' };
    const scopeList = items(resourceSpans.scopeSpans);
    at.part = '';
    for (let c = 0; c < scopeList.length; c++) {
      at.scope = c;
      at.span = -1;
      const spanList = items(scopeList[c]!.spans);
      for (let k = 0; k < spanList.length; k++) {
        at.span = k;
        const span = spanList[k]!;
        const attrs = attributes(span.attributes);
        const rolloutId = idOf(attrs[ROLLOUT_ID_ATTRIBUTE]) ?? idOf(resourceAttributes[ROLLOUT_ID_ATTRIBUTE]);
        const attemptId = idOf(attrs[ATTEMPT_ID_ATTRIBUTE]) ?? idOf(resourceAttributes[ATTEMPT_ID_ATTRIBUTE]);
        if (rolloutId === undefined || attemptId === undefined) {
          rejected += 1;
          continue;
        }
        const traceId = hex(span.traceId);
        const spanId = hex(span.spanId);
        const parentId = hex(span.parentSpanId);
        const context: SpanContext = {
          traceId,
          spanId,
          isRemote: false,
          traceState: traceState(span.traceState),
        };
        const input: SpanInput = {
          rolloutId,
          attemptId,
          traceId,
          spanId,
          parentId: parentId === '' ? null : parentId,
          name: span.name ?? '',
          status: { statusCode: statusCode(span.status?.code), description: span.status?.message || null },
          attributes: attrs,
          events: (span.events ?? []).map((e) => ({
            name: e.name ?? '',
            attributes: attributes(e.attributes),
            timestamp: seconds(e.timeUnixNano),
          })),
          links: (span.links ?? []).map((l) => ({
            context: {
              traceId: hex(l.traceId),
              spanId: hex(l.spanId),
              isRemote: false,
              traceState: traceState(l.traceState),
            },
            attributes: attributes(l.attributes),
          })),
          startTime: seconds(span.startTimeUnixNano),
          endTime: seconds(span.endTimeUnixNano),
          context,
          parent: parentId === '' ? null : { traceId, spanId: parentId, isRemote: false, traceState: {} },
          resource,
        };
        const sequenceId = givenSequenceId(
          attrs[SEQUENCE_ID_ATTRIBUTE] ?? resourceAttributes[SEQUENCE_ID_ATTRIBUTE],
        );
        if (sequenceId !== undefined) input.sequenceId = sequenceId;
        spans.push(input);
      }
    }
  }
  return { spans, rejected };
}
