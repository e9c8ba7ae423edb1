/**
 * The RolloutStore model and interface: Agent Lightning's `LightningStore`, the data hub between a training
 * algorithm and many runners. Field for field it follows `reference/agent-lightning-store-openapi.json`, with
 * the snake_case wire names in camelCase (`rollout_id` -> `rolloutId`); the HTTP layer maps them 1:1.
 *
 * Time: every `...Time` field is **epoch seconds as a float**, exactly as on the wire (`start_time: 1767225600.25`),
 * so a value never changes unit between the store, the HTTP API and Agent Lightning clients. Durations passed
 * to the store's own API are milliseconds (`timeoutMs`, `olderThanMs`); the rollout config keeps the reference's
 * `timeoutSeconds` / `unresponsiveSeconds` because that config is wire data. Absent values are `null`, as on
 * the wire.
 *
 * Lifecycle in one picture (the reference's state machine, made durable and safe with many consumers):
 *
 * ```
 * enqueueRollout -> rollout 'queuing' (FIFO) --dequeueRollout--> new attempt 'preparing', rollout 'preparing'
 * startRollout   -> rollout 'preparing' with attempt #1 (not queued)
 * span or heartbeat -> attempt preparing|unresponsive -> 'running'; latest attempt's rollout -> 'running'
 * attempt 'succeeded' -> rollout 'succeeded'
 * attempt failed|timeout|unresponsive -> rollout 'requeuing' (back in the queue) when the status is in
 *   config.retryCondition and attempt.sequenceId < config.maxAttempts, else rollout 'failed'
 * health check: latest attempt older than timeoutSeconds -> 'timeout';
 *   no heartbeat for unresponsiveSeconds -> 'unresponsive'; then propagate as above
 * ```
 */

import type { BackgroundErrorHandler } from '../shared/backgroundErrors.ts';

/** Rollout status. Finished: `succeeded`, `failed`, `cancelled`. In the queue: `queuing`, `requeuing`. */
export type RolloutStatus =
  | 'queuing'
  | 'preparing'
  | 'running'
  | 'failed'
  | 'succeeded'
  | 'cancelled'
  | 'requeuing';

/** Attempt status. `timeout` is final: a later span records a heartbeat but never revives the attempt. */
export type AttemptStatus = 'preparing' | 'running' | 'failed' | 'succeeded' | 'unresponsive' | 'timeout';

/** Worker (runner) status as the store last saw it. */
export type WorkerStatus = 'idle' | 'busy' | 'unknown';

/** What a rollout is for. */
export type RolloutMode = 'train' | 'val' | 'test';

/** Every rollout status, in the reference's order. */
export const ROLLOUT_STATUSES: readonly RolloutStatus[] = [
  'queuing',
  'preparing',
  'running',
  'failed',
  'succeeded',
  'cancelled',
  'requeuing',
];

/** Every attempt status, in the reference's order. */
export const ATTEMPT_STATUSES: readonly AttemptStatus[] = [
  'preparing',
  'running',
  'failed',
  'succeeded',
  'unresponsive',
  'timeout',
];

/** Every worker status. */
export const WORKER_STATUSES: readonly WorkerStatus[] = ['idle', 'busy', 'unknown'];

/** Every rollout mode. */
export const ROLLOUT_MODES: readonly RolloutMode[] = ['train', 'val', 'test'];

/** Rollout statuses after which nothing more happens to a rollout (what `waitForRollouts` waits for). */
export const FINISHED_ROLLOUT_STATUSES: readonly RolloutStatus[] = ['succeeded', 'failed', 'cancelled'];

/** Retries and time limits of a rollout (reference `RolloutConfig`). */
export interface RolloutConfig {
  /** An attempt running longer than this (from its start) is marked `timeout`; null = no limit. */
  timeoutSeconds: number | null;
  /** An attempt without heartbeat (span or explicit) for this long is marked `unresponsive`; null = never. */
  unresponsiveSeconds: number | null;
  /** Total attempts allowed, at least 1 (default 1: no retry). */
  maxAttempts: number;
  /** Attempt statuses that requeue the rollout while attempts remain (default: none). */
  retryCondition: AttemptStatus[];
}

/** A rollout config as given by callers: every field optional, defaults as in `RolloutConfig`. */
export type RolloutConfigInput = Partial<RolloutConfig>;

/** One task to run (reference `Rollout`); ids look like `ro-…`. */
export interface Rollout {
  /** `ro-` followed by the creation time (9 base-36 characters, so ids sort by it) and 9 random characters. */
  rolloutId: string;
  /** The task input: any JSON value. */
  input: unknown;
  /** Creation time, epoch seconds. */
  startTime: number;
  /** When the rollout finished (succeeded, failed, cancelled), epoch seconds; null before. */
  endTime: number | null;
  /** Train, validation or test. */
  mode: RolloutMode | null;
  /** Resources pinned at creation: the one given, else the latest at that moment; null when none existed. */
  resourcesId: string | null;
  /** Current status. */
  status: RolloutStatus;
  /** Retry and time-limit policy. */
  config: RolloutConfig;
  /** Free JSON metadata (`{}` by default). */
  metadata: Record<string, unknown> | null;
}

/** One execution of a rollout by a worker (reference `Attempt`); ids look like `at-…`. */
export interface Attempt {
  /** The rollout this attempt runs. */
  rolloutId: string;
  /** `at-` followed by 8 random characters. */
  attemptId: string;
  /** 1 for the first attempt of a rollout, then 2, 3, ... */
  sequenceId: number;
  /** When the attempt was created, epoch seconds. Timeouts count from here. */
  startTime: number;
  /** When the attempt ended (succeeded or failed), epoch seconds; null before. */
  endTime: number | null;
  /** Current status. */
  status: AttemptStatus;
  /** The worker running it, if known. */
  workerId: string | null;
  /** Last span or heartbeat, epoch seconds; null before the first. Unresponsiveness counts from here. */
  lastHeartbeatTime: number | null;
  /** Free JSON metadata. */
  metadata: Record<string, unknown> | null;
}

/** A rollout with the attempt that is running it (its latest attempt). */
export interface AttemptedRollout extends Rollout {
  /** The latest attempt. */
  attempt: Attempt;
}

/** An OpenTelemetry attribute value (reference `attributes` value types). */
export type AttributeValue = string | boolean | number | string[] | boolean[] | number[];

/** OpenTelemetry attributes. Keys are user data and keep their spelling (`gen_ai.prompt`). */
export type Attributes = Record<string, AttributeValue>;

/** Span status (reference `TraceStatus`). */
export interface TraceStatus {
  /** OpenTelemetry status code. */
  statusCode: 'UNSET' | 'OK' | 'ERROR';
  /** Error description, if any. */
  description?: string | null;
}

/** Span context (reference `SpanContext`). */
export interface SpanContext {
  /** Trace id, hex. */
  traceId: string;
  /** Span id, hex. */
  spanId: string;
  /** Whether the context came from another process. */
  isRemote: boolean;
  /** W3C trace state entries. */
  traceState: Record<string, string>;
}

/** A span event (reference `Event`). Unknown fields are kept. */
export interface SpanEvent {
  /** Event name. */
  name: string;
  /** Event attributes. */
  attributes: Attributes;
  /** Event time, epoch seconds. */
  timestamp?: number | null;
  /** Fields the model does not name are kept as given. */
  [extra: string]: unknown;
}

/** A span link (reference `Link`). Unknown fields are kept. */
export interface SpanLink {
  /** The linked span. */
  context: SpanContext;
  /** Link attributes. */
  attributes?: Attributes | null;
  /** Fields the model does not name are kept as given. */
  [extra: string]: unknown;
}

/** The OpenTelemetry resource that emitted a span (reference `OtelResource`). */
export interface OtelResource {
  /** Resource attributes (`service.name`, ...). */
  attributes: Attributes;
  /** Schema URL, `''` when none. */
  schemaUrl: string;
}

/** The modelled fields of a span (see `Span`). */
export interface SpanFields {
  /** The rollout. */
  rolloutId: string;
  /** The attempt. */
  attemptId: string;
  /** Order of the span within its rollout: unique and increasing per rollout. */
  sequenceId: number;
  /** Trace id. */
  traceId: string;
  /** Span id; (rolloutId, attemptId, spanId) identifies a span, a second one is a duplicate. */
  spanId: string;
  /** Parent span id. */
  parentId: string | null;
  /** Span name. */
  name: string;
  /** Status. */
  status: TraceStatus;
  /** Attributes. */
  attributes: Attributes;
  /** Events. */
  events: SpanEvent[];
  /** Links. */
  links: SpanLink[];
  /** Start, epoch seconds. */
  startTime: number | null;
  /** End, epoch seconds. */
  endTime: number | null;
  /** This span's context. */
  context: SpanContext | null;
  /** The parent's context. */
  parent: SpanContext | null;
  /** Emitting resource. */
  resource: OtelResource;
}

/**
 * One telemetry span of an attempt (reference `Span`). A span is also a heartbeat of its attempt. Fields the
 * model does not name are kept and returned as given (the reference keeps pydantic "extra" fields too).
 */
export interface Span extends SpanFields {
  /** Fields the model does not name are kept as given. */
  [extra: string]: unknown;
}

type RequiredSpanKeys = 'rolloutId' | 'attemptId' | 'traceId' | 'spanId' | 'name';

/**
 * A span as given to `addSpan`: ids and name are required; `sequenceId` is issued by the store when absent
 * (an improvement on the reference, which needs a separate `getNextSpanSequenceId` round trip); a given one
 * must be an integer from 0 to 2^31-1. Other fields default to empty values. Unknown fields are kept.
 */
export type SpanInput = Pick<SpanFields, RequiredSpanKeys> &
  Partial<Omit<SpanFields, RequiredSpanKeys>> & { [extra: string]: unknown };

/** The camelCase names of the modelled span fields; any other key of a span is an "extra" kept as given. */
export const SPAN_FIELDS: readonly string[] = [
  'rolloutId',
  'attemptId',
  'sequenceId',
  'traceId',
  'spanId',
  'parentId',
  'name',
  'status',
  'attributes',
  'events',
  'links',
  'startTime',
  'endTime',
  'context',
  'parent',
  'resource',
];

/** An LLM endpoint resource (reference `LLM`). */
export interface LlmResource {
  /** Discriminator. */
  resourceType: 'llm';
  /** Base URL. */
  endpoint: string;
  /** Model name. */
  model: string;
  /** API key, if any. */
  apiKey?: string | null;
  /** Sampling parameters (temperature, ...). */
  samplingParameters?: Record<string, unknown>;
}

/** An LLM resource routed through Agent Lightning's LLM proxy (reference `ProxyLLM`). */
export interface ProxyLlmResource extends Omit<LlmResource, 'resourceType'> {
  /** Discriminator. */
  resourceType: 'proxy_llm';
}

/** A prompt template resource (reference `PromptTemplate`). */
export interface PromptTemplateResource {
  /** Discriminator. */
  resourceType: 'prompt_template';
  /** The template text. */
  template: string;
  /** Template engine. */
  engine: 'jinja' | 'f-string' | 'poml';
}

/** One named resource. */
export type Resource = LlmResource | ProxyLlmResource | PromptTemplateResource;

/** Resources by name (`{ main_llm: {...}, system_prompt: {...} }`). */
export type NamedResources = Record<string, Resource>;

/** A versioned snapshot of named resources (reference `ResourcesUpdate`); ids look like `rs-…`. */
export interface ResourcesUpdate {
  /** `rs-` followed by 12 random characters (or the id given to `updateResources`). */
  resourcesId: string;
  /** Creation time, epoch seconds. */
  createTime: number;
  /** Last update time, epoch seconds; "latest resources" means the greatest updateTime. */
  updateTime: number;
  /** 1 on creation, +1 on every `updateResources`. */
  version: number;
  /** The resources. */
  resources: NamedResources;
}

/** A runner as the store sees it (reference `Worker`). */
export interface Worker {
  /** Worker id, chosen by the runner. */
  workerId: string;
  /** busy after a dequeue, idle after an empty dequeue or a finished attempt, unknown after a timeout. */
  status: WorkerStatus;
  /** Free JSON the runner reports with `updateWorker`. */
  heartbeatStats: Record<string, unknown> | null;
  /** Last `updateWorker`, epoch seconds. */
  lastHeartbeatTime: number | null;
  /** Last dequeue call (empty or not), epoch seconds. */
  lastDequeueTime: number | null;
  /** Last time it became busy, epoch seconds. */
  lastBusyTime: number | null;
  /** Last time it became idle, epoch seconds. */
  lastIdleTime: number | null;
  /** Rollout it is running. */
  currentRolloutId: string | null;
  /** Attempt it is running. */
  currentAttemptId: string | null;
}

/** One page of a query (reference `PaginatedResult`). `limit` -1 means "no limit". */
export interface PaginatedResult<T> {
  /** The items of this page. */
  items: T[];
  /** The limit used (-1: none). */
  limit: number;
  /** The offset used. */
  offset: number;
  /** Number of matching items across all pages. */
  total: number;
}

/** Sort direction. */
export type SortOrder = 'asc' | 'desc';

/** How several filters combine: all must match, or any. */
export type FilterLogic = 'and' | 'or';

/** Paging and sorting shared by queries. */
export interface PageOptions<SortField extends string> {
  /** Page size; -1 or absent means all. */
  limit?: number;
  /** Items to skip. */
  offset?: number;
  /** Field to sort by (camelCase). */
  sortBy?: SortField | null;
  /** Sort direction, default asc. */
  sortOrder?: SortOrder;
}

/** Options of a read in pages (`iterateRollouts`, `iterateSpans`, `iterateAttempts`, `iterateResources`, `iterateWorkers`). */
export interface IterateOptions {
  /** Items per page (one backend query each), 1 to 10,000; default 1,000. */
  pageRows?: number;
}

/** Rollout fields `queryRollouts` can sort by. Default order: creation order. */
export type RolloutSortField = 'rolloutId' | 'startTime' | 'endTime' | 'status' | 'mode' | 'resourcesId';

/** Filters of `queryRollouts`; the filters present combine with `filterLogic`. */
export interface RolloutQuery extends PageOptions<RolloutSortField> {
  /** Status is one of these. */
  statusIn?: RolloutStatus[] | null;
  /** Id is one of these. */
  rolloutIdIn?: string[] | null;
  /** Id contains this substring. */
  rolloutIdContains?: string | null;
  /** and (default) / or. */
  filterLogic?: FilterLogic;
}

/** Attempt fields `queryAttempts` can sort by (default sequenceId). */
export type AttemptSortField = 'sequenceId' | 'startTime' | 'endTime' | 'status' | 'attemptId' | 'workerId';

/** Paging of `queryAttempts`. */
export type AttemptQuery = PageOptions<AttemptSortField>;

/** Span fields `querySpans` can sort by (default sequenceId). */
export type SpanSortField =
  | 'sequenceId'
  | 'startTime'
  | 'endTime'
  | 'name'
  | 'spanId'
  | 'traceId'
  | 'parentId';

/**
 * Filters of `querySpans`. The rollout (and `attemptId` when given) must always match; the other filters
 * present combine with `filterLogic`.
 */
export interface SpanQuery extends PageOptions<SpanSortField> {
  /** Only spans of this attempt; `'latest'` = the rollout's latest attempt (none yet: empty result). */
  attemptId?: string | null;
  /** Trace id equals. */
  traceId?: string | null;
  /** Trace id contains. */
  traceIdContains?: string | null;
  /** Span id equals. */
  spanId?: string | null;
  /** Span id contains. */
  spanIdContains?: string | null;
  /** Parent id equals. */
  parentId?: string | null;
  /** Parent id contains. */
  parentIdContains?: string | null;
  /** Name equals. */
  name?: string | null;
  /** Name contains. */
  nameContains?: string | null;
  /** and (default) / or. */
  filterLogic?: FilterLogic;
}

/** Resource fields `queryResources` can sort by (default creation order). */
export type ResourcesSortField = 'resourcesId' | 'createTime' | 'updateTime' | 'version';

/** Filters of `queryResources`. */
export interface ResourcesQuery extends PageOptions<ResourcesSortField> {
  /** Id equals. */
  resourcesId?: string | null;
  /** Id contains. */
  resourcesIdContains?: string | null;
}

/** Worker fields `queryWorkers` can sort by (default workerId). */
export type WorkerSortField =
  | 'workerId'
  | 'status'
  | 'lastHeartbeatTime'
  | 'lastDequeueTime'
  | 'lastBusyTime'
  | 'lastIdleTime';

/** Filters of `queryWorkers`; present filters combine with `filterLogic`. */
export interface WorkerQuery extends PageOptions<WorkerSortField> {
  /** Status is one of these. */
  statusIn?: WorkerStatus[] | null;
  /** Id contains. */
  workerIdContains?: string | null;
  /** and (default) / or. */
  filterLogic?: FilterLogic;
}

/**
 * Options of every write. `idempotencyKey`: a client retrying a request after a lost response sends the same
 * key, and the store returns the first call's result instead of writing twice (keys are kept until
 * `pruneFinished` removes those older than its `olderThanMs`). Reusing a key for another operation is an
 * `InvalidInputError`.
 */
export interface WriteOptions {
  /** Unique per logical write, chosen by the caller (a UUID). */
  idempotencyKey?: string;
}

/** Fields of a new rollout (reference `EnqueueRolloutRequest`). */
export interface EnqueueRolloutRequest {
  /** The task input: any JSON value. */
  input: unknown;
  /** Train, validation or test. */
  mode?: RolloutMode | null;
  /** Resources to pin; default: the latest resources now. */
  resourcesId?: string | null;
  /** Retry/time-limit policy; defaults as in `RolloutConfig`. */
  config?: RolloutConfigInput | null;
  /** Free JSON metadata. */
  metadata?: Record<string, unknown> | null;
}

/** Fields of a rollout started directly, without the queue (reference `RolloutRequest`). */
export interface StartRolloutRequest extends EnqueueRolloutRequest {
  /** The worker running attempt #1. */
  workerId?: string | null;
}

/** Fields `updateRollout` may change; absent fields stay. */
export interface RolloutPatch {
  /** New input. */
  input?: unknown;
  /** New mode. */
  mode?: RolloutMode | null;
  /** New pinned resources. */
  resourcesId?: string | null;
  /** New status; `queuing`/`requeuing` put the rollout back in the queue, finished statuses set endTime. */
  status?: RolloutStatus;
  /** New config (replaces the old one; missing fields take defaults). */
  config?: RolloutConfigInput;
  /** New metadata (replaces the old). */
  metadata?: Record<string, unknown> | null;
}

/** Fields `updateAttempt` may change; absent fields stay. */
export interface AttemptPatch {
  /** New status; propagates to the rollout when this is its latest attempt. */
  status?: AttemptStatus;
  /** The worker running it. */
  workerId?: string | null;
  /** Explicit heartbeat time, epoch seconds. */
  lastHeartbeatTime?: number | null;
  /** New metadata (replaces the old). */
  metadata?: Record<string, unknown> | null;
}

/** Options of `dequeueRollout`. */
export interface DequeueOptions {
  /** The worker asking; its status and timestamps are updated. */
  workerId?: string | null;
}

/** Options of `dequeueManyRollouts`. */
export interface DequeueManyOptions extends DequeueOptions {
  /**
   * At most this many rollouts (default 1). One call returns at most the store's `maxDequeuePerCall`
   * (default 1000) however large the limit: a dequeue may always return fewer than asked.
   */
  limit?: number;
}

/** Options of `startAttempt`. */
export interface StartAttemptOptions extends WriteOptions {
  /** The worker running the new attempt. */
  workerId?: string | null;
}

/** Options of `addOtelSpan`. */
export interface AddOtelSpanOptions extends WriteOptions {
  /** Sequence id to use; default: the next one of the rollout. */
  sequenceId?: number;
}

/** Options of `updateWorker`. */
export interface UpdateWorkerOptions extends WriteOptions {
  /** Free JSON the runner reports (replaces the previous). */
  heartbeatStats?: Record<string, unknown> | null;
}

/** Arguments of `waitForRollouts`. */
export interface WaitForRolloutsOptions {
  /** Rollouts to wait for. */
  rolloutIds: string[];
  /** Give up after this many ms and return those finished so far; absent = wait until all finish; 0 = no wait. */
  timeoutMs?: number | null;
  /** Stops the wait early, like a timeout (those finished so far are returned); the server aborts it when the client goes away. */
  signal?: AbortSignal;
}

/** Arguments of `pruneFinished`. */
export interface PruneOptions {
  /** Delete finished rollouts (with their attempts and spans) whose endTime is older than this many ms. */
  olderThanMs: number;
}

/** What `pruneFinished` deleted. */
export interface PruneResult {
  /** Rollouts deleted. */
  rollouts: number;
  /** Attempts deleted. */
  attempts: number;
  /** Spans deleted. */
  spans: number;
  /** Idempotency records deleted. */
  idempotencyKeys: number;
}

/** What `addManySpans` did (reference `SpanWriteResult`, plus which spans were duplicates). */
export interface SpanWriteResult {
  /** Spans stored. */
  inserted: number;
  /** Spans ignored because (rolloutId, attemptId, spanId) was already stored. */
  duplicates: number;
  /** The duplicates, so a caller can tell which were dropped. */
  duplicateSpans: Array<{ rolloutId: string; attemptId: string; spanId: string }>;
}

/** Counts and facts of a store (reference `statistics`). */
export interface RolloutStoreStatistics {
  /** Backend name. */
  name: string;
  /** Rollouts stored. */
  totalRollouts: number;
  /** Attempts stored. */
  totalAttempts: number;
  /** Spans stored. */
  totalSpans: number;
  /** Resource snapshots stored. */
  totalResources: number;
  /** Workers known. */
  totalWorkers: number;
  /** Rollouts waiting in the queue. */
  queueLength: number;
  /** Rollouts per status. */
  rolloutsByStatus: Partial<Record<RolloutStatus, number>>;
  /** Time since this store object was created, ms. */
  uptimeMs: number;
  /** Memory backend: bytes of spans held and the budget. */
  spanBytes?: number;
  /** Memory backend: the span byte budget. */
  maxSpanBytes?: number;
  /** Memory backend with `evictFinishedSpans`: spans of finished rollouts dropped to make room. */
  evictedSpans?: number;
}

/**
 * A minimal structural type of an OpenTelemetry `ReadableSpan` (from `@opentelemetry/sdk-trace-base`), so
 * `addOtelSpan` takes SDK spans without the SDK being a runtime dependency. Times are OTel `HrTime`
 * (`[seconds, nanoseconds]`).
 */
export interface ReadableSpanLike {
  /** Span name. */
  readonly name: string;
  /** Returns the span's context. */
  spanContext(): {
    traceId: string;
    spanId: string;
    traceFlags?: number;
    isRemote?: boolean;
    traceState?: { serialize(): string } | undefined;
  };
  /** Parent span id (SDK 1.x). */
  readonly parentSpanId?: string | undefined;
  /** Parent span context (SDK 2.x). */
  readonly parentSpanContext?: { traceId: string; spanId: string; isRemote?: boolean } | undefined;
  /** Start, HrTime. */
  readonly startTime: readonly [number, number];
  /** End, HrTime ([0, 0] when not ended). */
  readonly endTime: readonly [number, number];
  /** Status: code 0 UNSET, 1 OK, 2 ERROR. */
  readonly status: { code: number; message?: string | undefined };
  /** Attributes. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Events. */
  readonly events: ReadonlyArray<{
    name: string;
    attributes?: Readonly<Record<string, unknown>> | undefined;
    time: readonly [number, number];
  }>;
  /** Links. */
  readonly links: ReadonlyArray<{
    context: { traceId: string; spanId: string; isRemote?: boolean };
    attributes?: Readonly<Record<string, unknown>> | undefined;
  }>;
  /** Emitting resource. */
  readonly resource?:
    | { attributes: Readonly<Record<string, unknown>>; schemaUrl?: string | undefined }
    | undefined;
}

/**
 * The rollout store: every operation of the Agent Lightning store API. Creation methods take one object,
 * ids are positional, optional parameters go in a trailing options object.
 *
 * Guarantees every backend gives (the shared conformance suite checks them):
 * - FIFO queue; with many consumers (threads, processes, machines) a rollout is never dequeued twice.
 * - Health checks run on a timer (default every second) and before reads, so an attempt past its
 *   `timeoutSeconds` or `unresponsiveSeconds` is marked even when nobody queries. The reference checks only
 *   when someone calls the store.
 * - Finding expired attempts is an indexed lookup on a per-attempt deadline, not a scan of every running
 *   rollout.
 * - `waitForRollouts` wakes on the write that finishes the rollout; it does not poll.
 * - Writes accept an `idempotencyKey`.
 * - A write's promise settles after its transaction committed. Writes issued in the same tick share one
 *   transaction (group commit), each isolated, so one failing write never undoes another.
 * - Nothing stored is dropped silently: the memory backend refuses spans beyond its byte budget with a
 *   `CapacityExceededError` instead of evicting spans of running rollouts as the reference does.
 */
export interface RolloutStore {
  /** Backend name: `memory`, `sqlite`, `postgres`. */
  readonly name: string;

  /** Creates a rollout and its first attempt at once, bypassing the queue (status `preparing`). */
  startRollout(request: StartRolloutRequest, options?: WriteOptions): Promise<AttemptedRollout>;
  /** Creates a rollout at the end of the queue (status `queuing`). */
  enqueueRollout(request: EnqueueRolloutRequest, options?: WriteOptions): Promise<Rollout>;
  /** Creates many queued rollouts in one transaction, in order. */
  enqueueManyRollouts(requests: EnqueueRolloutRequest[], options?: WriteOptions): Promise<Rollout[]>;
  /** Takes the oldest queued rollout and creates its next attempt (`preparing`); null when the queue is empty. */
  dequeueRollout(options?: DequeueOptions): Promise<AttemptedRollout | null>;
  /** Takes up to `limit` queued rollouts, oldest first, creating an attempt for each. */
  dequeueManyRollouts(options?: DequeueManyOptions): Promise<AttemptedRollout[]>;
  /** Creates a new attempt of a rollout by hand (ignores maxAttempts); the rollout becomes `preparing`. */
  startAttempt(rolloutId: string, options?: StartAttemptOptions): Promise<AttemptedRollout>;

  /** Stores a span (a heartbeat of its attempt); returns null when it is a duplicate (nothing stored). */
  addSpan(span: SpanInput, options?: WriteOptions): Promise<Span | null>;
  /** Stores many spans in one transaction; duplicates are skipped and reported. Unknown rollout/attempt: nothing stored. */
  addManySpans(spans: SpanInput[], options?: WriteOptions): Promise<SpanWriteResult>;
  /** Converts an OpenTelemetry ReadableSpan and stores it; null when it is a duplicate. */
  addOtelSpan(
    rolloutId: string,
    attemptId: string,
    span: ReadableSpanLike,
    options?: AddOtelSpanOptions,
  ): Promise<Span | null>;
  /** Issues the next span sequence id of a rollout: strictly increasing, never issued twice. */
  getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number>;
  /** Spans of a rollout (all attempts, one attempt, or `'latest'`), filtered, sorted by sequenceId by default. */
  querySpans(rolloutId: string, query?: SpanQuery): Promise<PaginatedResult<Span>>;
  /**
   * The spans `querySpans(rolloutId, query)` returns, in the same order, in pages (see `iterateRollouts`).
   * Spans added during the read may or may not be seen; every span that exists throughout is read once.
   */
  iterateSpans?(rolloutId: string, query?: SpanQuery, options?: IterateOptions): AsyncIterable<Span[]>;

  /** Rollouts matching the filters; each with its latest attempt attached when it has one. */
  queryRollouts(query?: RolloutQuery): Promise<PaginatedResult<Rollout | AttemptedRollout>>;
  /**
   * The items `queryRollouts(query)` returns, in the same order, in pages of at most 1,000, each read from
   * the backend only when the one before was consumed: a read of any size (`limit: -1` = all) in bounded
   * memory. The pages are not one snapshot; in creation order (the default) every rollout that exists
   * throughout is returned exactly once. Optional: stores over HTTP do not implement it.
   */
  iterateRollouts?(
    query?: RolloutQuery,
    options?: IterateOptions,
  ): AsyncIterable<Array<Rollout | AttemptedRollout>>;
  /** One rollout with its latest attempt attached when it has one; null when unknown. */
  getRolloutById(rolloutId: string): Promise<Rollout | AttemptedRollout | null>;
  /** Changes a rollout's fields; see `RolloutPatch` for side effects. Unknown id: NotFoundError. */
  updateRollout(rolloutId: string, patch: RolloutPatch, options?: WriteOptions): Promise<Rollout>;

  /** Attempts of a rollout, by sequenceId by default. */
  queryAttempts(rolloutId: string, query?: AttemptQuery): Promise<PaginatedResult<Attempt>>;
  /** The attempts `queryAttempts(rolloutId, query)` returns, in the same order, in pages (see `iterateRollouts`). */
  iterateAttempts?(
    rolloutId: string,
    query?: AttemptQuery,
    options?: IterateOptions,
  ): AsyncIterable<Attempt[]>;
  /** The latest attempt of a rollout; null when none. */
  getLatestAttempt(rolloutId: string): Promise<Attempt | null>;
  /** Changes an attempt (`'latest'` = the latest); a status change of the latest attempt propagates to the rollout. */
  updateAttempt(
    rolloutId: string,
    attemptId: string,
    patch: AttemptPatch,
    options?: WriteOptions,
  ): Promise<Attempt>;

  /** Stores a new resources snapshot (version 1), which becomes the latest. */
  addResources(resources: NamedResources, options?: WriteOptions): Promise<ResourcesUpdate>;
  /** Replaces a snapshot's resources (version + 1, becomes the latest); creates it when unknown. */
  updateResources(
    resourcesId: string,
    resources: NamedResources,
    options?: WriteOptions,
  ): Promise<ResourcesUpdate>;
  /** Resource snapshots, creation order by default. */
  queryResources(query?: ResourcesQuery): Promise<PaginatedResult<ResourcesUpdate>>;
  /** The snapshots `queryResources(query)` returns, in the same order, in pages (see `iterateRollouts`). */
  iterateResources?(query?: ResourcesQuery, options?: IterateOptions): AsyncIterable<ResourcesUpdate[]>;
  /** One snapshot; null when unknown. */
  getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null>;
  /** The snapshot with the greatest updateTime (ties: the last written); null when none. */
  getLatestResources(): Promise<ResourcesUpdate | null>;

  /** Workers matching the filters. */
  queryWorkers(query?: WorkerQuery): Promise<PaginatedResult<Worker>>;
  /** The workers `queryWorkers(query)` returns, in the same order, in pages (see `iterateRollouts`). */
  iterateWorkers?(query?: WorkerQuery, options?: IterateOptions): AsyncIterable<Worker[]>;
  /** One worker; null when unknown. */
  getWorkerById(workerId: string): Promise<Worker | null>;
  /** Records a worker heartbeat (creates the worker when new). */
  updateWorker(workerId: string, options?: UpdateWorkerOptions): Promise<Worker>;

  /** Resolves with the rollouts that finished (succeeded, failed, cancelled) by the time all did or timeoutMs passed. */
  waitForRollouts(options: WaitForRolloutsOptions): Promise<Rollout[]>;
  /** Counts and facts. */
  statistics(): Promise<RolloutStoreStatistics>;
  /** Runs the health check now (it also runs on its timer and before reads). */
  runHealthCheck(): Promise<void>;
  /** Retention: deletes finished rollouts older than `olderThanMs` with their attempts and spans. */
  pruneFinished(options: PruneOptions): Promise<PruneResult>;
  /** Stops the health-check timer, rejects pending waits with ClosedError, releases the backend. */
  close(): Promise<void>;
  /**
   * Resolves when the backend can serve: its database answers and its schema is at the version this code
   * reads (creating it on first use); rejects with a coded error (UNAVAILABLE, CORRUPT_STATE) otherwise.
   * Backends without a database to reach leave it out (always ready).
   */
  ready?(): Promise<void>;
  /** Counters for operators (connection pool, round trips, health-check leadership); synchronous, cheap. */
  operationalStats?(): RolloutStoreOperationalStats;
}

/** What a rollout store reports to `/metrics` about its machinery (see `RolloutStore.operationalStats`). */
export interface RolloutStoreOperationalStats {
  /** Connection pool: its size limit, connections open, idle, and callers waiting for one. */
  pool?: { max: number; total: number; idle: number; waiting: number };
  /** Per store operation: calls completed and database round trips they took (BEGIN/COMMIT included). */
  roundTrips: Record<string, { operations: number; roundTrips: number }>;
  /** Whether this process currently holds the cluster's health-check lease (runs the timed health check). */
  healthCheckLeader: boolean;
  /** Timed health-check passes this process ran (as leader). */
  healthCheckRuns: number;
}

/** Options every backend accepts. */
export interface RolloutStoreOptions {
  /** Clock in epoch ms (inject one in tests); default `Date.now`. */
  now?: () => number;
  /** Period of the background health check, ms (default 1000); 0 disables the timer (checks still run before reads). */
  healthCheckIntervalMs?: number;
  /**
   * Writes submitted in the same tick share one transaction, each in its own savepoint (default true).
   * false: one transaction per call (the naive baseline of the benchmark).
   */
  groupCommit?: boolean;
  /**
   * Most rollouts one dequeue call takes, whatever limit it asks for (default 1000, see docs/limits.md):
   * bounds the time and the statement size of one call. Callers wanting more call again.
   */
  maxDequeuePerCall?: number;
  /**
   * Where failures of background work go (the health-check timer, the re-check of awaited rollouts, the
   * PostgreSQL pool and listener): default a process warning (see `BackgroundErrorHandler`).
   */
  onError?: BackgroundErrorHandler;
}
