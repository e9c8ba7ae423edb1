/**
 * Agent Lightning wire format (snake_case, as in the reference OpenAPI document) <-> the camelCase
 * RolloutStore model. Field by field and explicit: user data (inputs, metadata, attributes, heartbeat
 * stats, sampling parameters, span extras) keeps its keys exactly as given in both directions.
 */

import { setOwn } from '../../codec/json.ts';
import type {
  Attempt,
  AttemptedRollout,
  LlmResource,
  NamedResources,
  OtelResource,
  PaginatedResult,
  ProxyLlmResource,
  Resource,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutConfigInput,
  RolloutStoreStatistics,
  Span,
  SpanContext,
  SpanInput,
  SpanLink,
  TraceStatus,
  Worker,
} from '../../rollouts/model.ts';
import { SPAN_FIELDS } from '../../rollouts/model.ts';

/** A JSON object on the wire. */
export type Wire = Record<string, unknown>;

const has = (o: Wire, key: string): boolean => Object.hasOwn(o, key);

/** `sortBy` -> `sort_by`: a model field name as the wire spells it. */
export const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `sort_by` -> `sortBy`: a wire field name as the model spells it. */
export const camelCase = (name: string): string =>
  name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

// Sets, not arrays: every key of every span read or written is looked up here.
const MODEL_SPAN_FIELDS: ReadonlySet<string> = new Set(SPAN_FIELDS);
const WIRE_SPAN_FIELDS: ReadonlySet<string> = new Set(SPAN_FIELDS.map(snakeCase));

/** RolloutConfig -> wire. */
export function configToWire(config: RolloutConfig): Wire {
  return {
    timeout_seconds: config.timeoutSeconds,
    unresponsive_seconds: config.unresponsiveSeconds,
    max_attempts: config.maxAttempts,
    retry_condition: config.retryCondition,
  };
}

/** Wire config -> RolloutConfigInput (absent fields stay absent so the store applies its defaults). */
export function configFromWire(wire: Wire | null | undefined): RolloutConfigInput | null | undefined {
  if (wire === null || wire === undefined) return wire;
  const out: RolloutConfigInput = {};
  if (has(wire, 'timeout_seconds')) out.timeoutSeconds = wire.timeout_seconds as number | null;
  if (has(wire, 'unresponsive_seconds')) out.unresponsiveSeconds = wire.unresponsive_seconds as number | null;
  if (has(wire, 'max_attempts')) out.maxAttempts = wire.max_attempts as number;
  if (has(wire, 'retry_condition'))
    out.retryCondition = wire.retry_condition as RolloutConfig['retryCondition'];
  return out;
}

/** Attempt -> wire. */
export function attemptToWire(a: Attempt): Wire {
  return {
    rollout_id: a.rolloutId,
    attempt_id: a.attemptId,
    sequence_id: a.sequenceId,
    start_time: a.startTime,
    end_time: a.endTime,
    status: a.status,
    worker_id: a.workerId,
    last_heartbeat_time: a.lastHeartbeatTime,
    metadata: a.metadata,
  };
}

/** Rollout or AttemptedRollout -> wire. */
export function rolloutToWire(r: Rollout | AttemptedRollout): Wire {
  const wire: Wire = {
    rollout_id: r.rolloutId,
    input: r.input,
    start_time: r.startTime,
    end_time: r.endTime,
    mode: r.mode,
    resources_id: r.resourcesId,
    status: r.status,
    config: configToWire(r.config),
    metadata: r.metadata,
  };
  if ('attempt' in r && r.attempt) wire.attempt = attemptToWire(r.attempt);
  return wire;
}

function spanContextToWire(c: SpanContext | null): Wire | null {
  if (!c) return null;
  return { trace_id: c.traceId, span_id: c.spanId, is_remote: c.isRemote, trace_state: c.traceState };
}

function spanContextFromWire(w: unknown): SpanContext | null {
  if (!w || typeof w !== 'object') return null;
  const c = w as Wire;
  return {
    traceId: String(c.trace_id ?? ''),
    spanId: String(c.span_id ?? ''),
    isRemote: Boolean(c.is_remote),
    traceState: (c.trace_state as Record<string, string> | undefined) ?? {},
  };
}

function statusToWire(s: TraceStatus): Wire {
  return { status_code: s.statusCode, description: s.description ?? null };
}

function linkToWire(link: SpanLink): Wire {
  const { context, attributes, ...extra } = link;
  return { ...extra, context: spanContextToWire(context), attributes: attributes ?? null };
}

function linkFromWire(w: Wire): SpanLink {
  const { context, attributes, ...extra } = w;
  return {
    ...extra,
    context: spanContextFromWire(context)!,
    attributes: (attributes ?? null) as SpanLink['attributes'],
  };
}

function resourceToWireOtel(r: OtelResource): Wire {
  return { attributes: r.attributes, schema_url: r.schemaUrl };
}

/** Span -> wire; extra fields are copied as they were given. */
export function spanToWire(s: Span): Wire {
  const wire: Wire = {};
  for (const [key, value] of Object.entries(s)) {
    if (!MODEL_SPAN_FIELDS.has(key)) setOwn(wire, key, value);
  }
  Object.assign(wire, {
    rollout_id: s.rolloutId,
    attempt_id: s.attemptId,
    sequence_id: s.sequenceId,
    trace_id: s.traceId,
    span_id: s.spanId,
    parent_id: s.parentId,
    name: s.name,
    status: statusToWire(s.status),
    attributes: s.attributes,
    events: s.events,
    links: s.links.map(linkToWire),
    start_time: s.startTime,
    end_time: s.endTime,
    context: spanContextToWire(s.context),
    parent: spanContextToWire(s.parent),
    resource: resourceToWireOtel(s.resource),
  });
  return wire;
}

/** Wire span -> SpanInput; unknown fields are kept as extras. */
export function spanFromWire(w: Wire): SpanInput {
  const span: SpanInput = {
    rolloutId: w.rollout_id as string,
    attemptId: w.attempt_id as string,
    traceId: w.trace_id as string,
    spanId: w.span_id as string,
    name: w.name as string,
  };
  for (const [key, value] of Object.entries(w)) {
    if (!WIRE_SPAN_FIELDS.has(key)) setOwn(span, key, value);
  }
  if (typeof w.sequence_id === 'number') span.sequenceId = w.sequence_id;
  if (has(w, 'parent_id')) span.parentId = (w.parent_id ?? null) as string | null;
  if (w.status && typeof w.status === 'object') {
    const s = w.status as Wire;
    span.status = {
      statusCode: s.status_code as TraceStatus['statusCode'],
      description: (s.description ?? null) as string | null,
    };
  }
  if (w.attributes) span.attributes = w.attributes as Span['attributes'];
  if (Array.isArray(w.events)) span.events = w.events as Span['events'];
  if (Array.isArray(w.links)) span.links = (w.links as Wire[]).map(linkFromWire);
  if (has(w, 'start_time')) span.startTime = (w.start_time ?? null) as number | null;
  if (has(w, 'end_time')) span.endTime = (w.end_time ?? null) as number | null;
  if (has(w, 'context')) span.context = spanContextFromWire(w.context);
  if (has(w, 'parent')) span.parent = spanContextFromWire(w.parent);
  if (w.resource && typeof w.resource === 'object') {
    const r = w.resource as Wire;
    span.resource = {
      attributes: (r.attributes ?? {}) as Span['attributes'],
      schemaUrl: String(r.schema_url ?? ''),
    };
  }
  return span;
}

/** One named resource -> wire. */
export function resourceToWire(r: Resource): Wire {
  if (r.resourceType === 'prompt_template') {
    return { resource_type: r.resourceType, template: r.template, engine: r.engine };
  }
  const wire: Wire = { resource_type: r.resourceType, endpoint: r.endpoint, model: r.model };
  if (r.apiKey !== undefined) wire.api_key = r.apiKey;
  if (r.samplingParameters !== undefined) wire.sampling_parameters = r.samplingParameters;
  return wire;
}

/** Wire resource -> model (the reference's default `resource_type` is `llm`). */
export function resourceFromWire(w: Wire): Resource {
  const type = (w.resource_type ?? 'llm') as Resource['resourceType'];
  if (type === 'prompt_template') {
    return {
      resourceType: type,
      template: w.template as string,
      engine: w.engine as 'jinja' | 'f-string' | 'poml',
    };
  }
  const r: LlmResource | ProxyLlmResource = {
    resourceType: type,
    endpoint: w.endpoint as string,
    model: w.model as string,
  };
  if (has(w, 'api_key')) r.apiKey = (w.api_key ?? null) as string | null;
  if (has(w, 'sampling_parameters')) r.samplingParameters = w.sampling_parameters as Record<string, unknown>;
  return r;
}

/** Named resources on the wire -> model. */
export function namedResourcesFromWire(w: Wire): NamedResources {
  const out: NamedResources = {};
  for (const [name, value] of Object.entries(w)) {
    Object.defineProperty(out, name, {
      value: resourceFromWire(value as Wire),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Named resources -> wire (a name such as `__proto__` stays a plain key). */
export function namedResourcesToWire(resources: NamedResources): Wire {
  const wire: Wire = {};
  for (const [name, value] of Object.entries(resources)) {
    Object.defineProperty(wire, name, {
      value: resourceToWire(value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return wire;
}

/** ResourcesUpdate -> wire. */
export function resourcesUpdateToWire(u: ResourcesUpdate): Wire {
  return {
    resources_id: u.resourcesId,
    create_time: u.createTime,
    update_time: u.updateTime,
    version: u.version,
    resources: namedResourcesToWire(u.resources),
  };
}

/** Worker -> wire. */
export function workerToWire(w: Worker): Wire {
  return {
    worker_id: w.workerId,
    status: w.status,
    heartbeat_stats: w.heartbeatStats,
    last_heartbeat_time: w.lastHeartbeatTime,
    last_dequeue_time: w.lastDequeueTime,
    last_busy_time: w.lastBusyTime,
    last_idle_time: w.lastIdleTime,
    current_rollout_id: w.currentRolloutId,
    current_attempt_id: w.currentAttemptId,
  };
}

/** A page with each item mapped. */
export function pageToWire<T>(page: PaginatedResult<T>, map: (item: T) => Wire): Wire {
  return { items: page.items.map(map), limit: page.limit, offset: page.offset, total: page.total };
}

/**
 * Store statistics -> wire (snake_case keys). The uptime travels as the reference's `uptime`, in float
 * seconds (the wire fixes the unit); the other keys are agentstate's extras.
 */
export function statisticsToWire(s: RolloutStoreStatistics): Wire {
  const wire: Wire = {};
  for (const [key, value] of Object.entries(s)) {
    if (key === 'uptimeMs') wire.uptime = s.uptimeMs / 1000;
    else wire[snakeCase(key)] = value;
  }
  return wire;
}

/** Reverse of `statisticsToWire`. */
export function statisticsFromWire(w: Wire): RolloutStoreStatistics {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(w)) {
    if (key === 'uptime') out.uptimeMs = Math.round((value as number) * 1000);
    else setOwn(out, camelCase(key), value);
  }
  return out as unknown as RolloutStoreStatistics;
}

/** Wire attempt -> model. */
export function attemptFromWire(w: Wire): Attempt {
  return {
    rolloutId: w.rollout_id as string,
    attemptId: w.attempt_id as string,
    sequenceId: w.sequence_id as number,
    startTime: w.start_time as number,
    endTime: (w.end_time ?? null) as number | null,
    status: (w.status ?? 'preparing') as Attempt['status'],
    workerId: (w.worker_id ?? null) as string | null,
    lastHeartbeatTime: (w.last_heartbeat_time ?? null) as number | null,
    metadata: (w.metadata ?? null) as Record<string, unknown> | null,
  };
}

/** Wire rollout (with or without attempt) -> model. */
export function rolloutFromWire(w: Wire): Rollout | AttemptedRollout {
  const c = (w.config ?? {}) as Wire;
  const rollout: Rollout = {
    rolloutId: w.rollout_id as string,
    input: w.input,
    startTime: w.start_time as number,
    endTime: (w.end_time ?? null) as number | null,
    mode: (w.mode ?? null) as Rollout['mode'],
    resourcesId: (w.resources_id ?? null) as string | null,
    status: (w.status ?? 'queuing') as Rollout['status'],
    config: {
      timeoutSeconds: (c.timeout_seconds ?? null) as number | null,
      unresponsiveSeconds: (c.unresponsive_seconds ?? null) as number | null,
      maxAttempts: (c.max_attempts ?? 1) as number,
      retryCondition: (c.retry_condition ?? []) as RolloutConfig['retryCondition'],
    },
    metadata: (w.metadata ?? null) as Record<string, unknown> | null,
  };
  if (w.attempt && typeof w.attempt === 'object')
    return { ...rollout, attempt: attemptFromWire(w.attempt as Wire) };
  return rollout;
}

/** Wire span (as stored) -> Span. */
export function spanOutFromWire(w: Wire): Span {
  const input = spanFromWire(w);
  return {
    parentId: null,
    status: { statusCode: 'UNSET', description: null },
    attributes: {},
    events: [],
    links: [],
    startTime: null,
    endTime: null,
    context: null,
    parent: null,
    resource: { attributes: {}, schemaUrl: '' },
    ...input,
    sequenceId: w.sequence_id as number,
  } as Span;
}

/** Wire resources update -> model. */
export function resourcesUpdateFromWire(w: Wire): ResourcesUpdate {
  return {
    resourcesId: w.resources_id as string,
    createTime: w.create_time as number,
    updateTime: w.update_time as number,
    version: w.version as number,
    resources: namedResourcesFromWire((w.resources ?? {}) as Wire),
  };
}

/** Wire worker -> model. */
export function workerFromWire(w: Wire): Worker {
  return {
    workerId: w.worker_id as string,
    status: (w.status ?? 'unknown') as Worker['status'],
    heartbeatStats: (w.heartbeat_stats ?? null) as Record<string, unknown> | null,
    lastHeartbeatTime: (w.last_heartbeat_time ?? null) as number | null,
    lastDequeueTime: (w.last_dequeue_time ?? null) as number | null,
    lastBusyTime: (w.last_busy_time ?? null) as number | null,
    lastIdleTime: (w.last_idle_time ?? null) as number | null,
    currentRolloutId: (w.current_rollout_id ?? null) as string | null,
    currentAttemptId: (w.current_attempt_id ?? null) as string | null,
  };
}

/** Wire page -> model page. */
export function pageFromWire<T>(w: Wire, map: (item: Wire) => T): PaginatedResult<T> {
  return {
    items: (w.items as Wire[]).map(map),
    limit: w.limit as number,
    offset: w.offset as number,
    total: w.total as number,
  };
}

/** SpanInput -> wire: only the fields given (the server fills the defaults and may issue the sequence id). */
export function spanInputToWire(s: SpanInput): Wire {
  const wire: Wire = {};
  for (const [key, value] of Object.entries(s)) {
    if (!MODEL_SPAN_FIELDS.has(key)) setOwn(wire, key, value);
  }
  wire.rollout_id = s.rolloutId;
  wire.attempt_id = s.attemptId;
  wire.trace_id = s.traceId;
  wire.span_id = s.spanId;
  wire.name = s.name;
  if (s.sequenceId !== undefined) wire.sequence_id = s.sequenceId;
  if (s.parentId !== undefined) wire.parent_id = s.parentId;
  if (s.status !== undefined) wire.status = statusToWire(s.status);
  if (s.attributes !== undefined) wire.attributes = s.attributes;
  if (s.events !== undefined) wire.events = s.events;
  if (s.links !== undefined) wire.links = s.links.map(linkToWire);
  if (s.startTime !== undefined) wire.start_time = s.startTime;
  if (s.endTime !== undefined) wire.end_time = s.endTime;
  if (s.context !== undefined) wire.context = spanContextToWire(s.context);
  if (s.parent !== undefined) wire.parent = spanContextToWire(s.parent);
  if (s.resource !== undefined) wire.resource = resourceToWireOtel(s.resource);
  return wire;
}

/** RolloutConfigInput -> wire (only the fields given). */
export function configInputToWire(c: RolloutConfigInput): Wire {
  const wire: Wire = {};
  if (c.timeoutSeconds !== undefined) wire.timeout_seconds = c.timeoutSeconds;
  if (c.unresponsiveSeconds !== undefined) wire.unresponsive_seconds = c.unresponsiveSeconds;
  if (c.maxAttempts !== undefined) wire.max_attempts = c.maxAttempts;
  if (c.retryCondition !== undefined) wire.retry_condition = c.retryCondition;
  return wire;
}
