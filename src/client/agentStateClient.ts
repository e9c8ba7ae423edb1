/**
 * AgentStateClient: the whole HTTP API as a typed client. It implements `RolloutStore`, so code written
 * against a local store runs unchanged against `agentstate serve`:
 *
 * ```ts
 * const store: RolloutStore = new AgentStateClient({ url: 'http://127.0.0.1:4747', token });
 * ```
 *
 * Rollout calls use the Agent Lightning routes (/v1/agl) and map snake_case to camelCase; documents use
 * /v1/state. Every POST that writes carries an idempotency key, so retries after lost connections never duplicate.
 */
import type { ListOptions, ListPage, PutOptions, StoredDocument } from '../drivers/index.ts';
import { InvalidInputError } from '../errors.ts';
import type { PerformanceReport } from '../persistence/index.ts';
import type {
  AddOtelSpanOptions,
  Attempt,
  AttemptedRollout,
  AttemptPatch,
  AttemptQuery,
  DequeueManyOptions,
  DequeueOptions,
  EnqueueRolloutRequest,
  NamedResources,
  PaginatedResult,
  PruneOptions,
  PruneResult,
  ReadableSpanLike,
  ResourcesQuery,
  ResourcesUpdate,
  Rollout,
  RolloutPatch,
  RolloutQuery,
  RolloutStore,
  RolloutStoreStatistics,
  Span,
  SpanInput,
  SpanQuery,
  SpanWriteResult,
  StartAttemptOptions,
  StartRolloutRequest,
  UpdateWorkerOptions,
  WaitForRolloutsOptions,
  Worker,
  WorkerQuery,
  WriteOptions,
} from '../rollouts/model.ts';
import { requireId, spanFromOtel } from '../rollouts/model.ts';
import {
  attemptFromWire,
  configInputToWire,
  namedResourcesToWire,
  pageFromWire,
  resourcesUpdateFromWire,
  rolloutFromWire,
  snakeCase,
  spanInputToWire,
  spanOutFromWire,
  statisticsFromWire,
  type Wire,
  workerFromWire,
} from '../server/agl/wire.ts';
import { SessionsClient, TtlClient } from './extras.ts';
import { HttpTransport, type TransportOptions, throwIfError } from './transport.ts';

const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Options of AgentStateClient. */
export type AgentStateClientOptions = TransportOptions;

/** camelCase query -> snake_case wire object, dropping undefined and null. */
function queryToWire(query: object | undefined): Wire {
  const wire: Wire = {};
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    wire[snakeCase(key)] = key === 'sortBy' && typeof value === 'string' ? snakeCase(value) : value;
  }
  return wire;
}

/**
 * The paging of a query on the wire. The reference's routes refuse `limit: 0` (a limit is > 0, or -1 for
 * all) while the store API takes it as "count only", so such a query asks for one item and `trimPage` drops
 * it: the total still comes back.
 */
function pagedQueryToWire(query: { limit?: number } | undefined): Wire {
  const wire = queryToWire(query);
  if (wire.limit === 0) wire.limit = 1;
  return wire;
}

/** The page as the store API answers it for `query` (see pagedQueryToWire). */
function trimPage<T>(query: { limit?: number } | undefined, page: PaginatedResult<T>): PaginatedResult<T> {
  return query?.limit === 0 ? { ...page, items: [], limit: 0 } : page;
}

function rolloutRequestToWire(request: EnqueueRolloutRequest | StartRolloutRequest): Wire {
  // An absent input stays absent, so the server refuses it as the store would.
  const wire: Wire = request.input === undefined ? {} : { input: request.input };
  if (request.mode !== undefined) wire.mode = request.mode;
  if (request.resourcesId !== undefined) wire.resources_id = request.resourcesId;
  if (request.config !== undefined)
    wire.config = request.config === null ? null : configInputToWire(request.config);
  if (request.metadata !== undefined) wire.metadata = request.metadata;
  if ('workerId' in request && request.workerId !== undefined) wire.worker_id = request.workerId;
  return wire;
}

/** Named resources -> wire, refusing a non-object resource before it reaches the mapping. */
function resourcesToWire(resources: NamedResources): Wire {
  for (const [name, resource] of Object.entries(resources)) {
    if (resource === null || typeof resource !== 'object') {
      throw new InvalidInputError(`resource '${name}' must be an object`, { field: `resources.${name}` });
    }
  }
  return namedResourcesToWire(resources);
}

const A = '/v1/agl';
const enc = encodeURIComponent;

/** Typed client of an agentstate server; a RolloutStore over HTTP. */
export class AgentStateClient implements RolloutStore {
  /** Backend name as RolloutStore requires. */
  readonly name = 'http';
  /** /v1/ttl: values with a time to live, counters, locks, cooldowns. */
  readonly ttl: TtlClient;
  /** /v1/sessions: conversation sessions. */
  readonly sessions: SessionsClient;
  readonly #http: HttpTransport;
  #closed = false;

  constructor(options: AgentStateClientOptions) {
    this.#http = new HttpTransport(options);
    this.ttl = new TtlClient(this.#http);
    this.sessions = new SessionsClient(this.#http);
  }

  /** The server's base URL (with several endpoints: the one requests go to now). */
  get url(): string {
    return this.#http.url;
  }

  /** Every endpoint, in failover order (`url` first when given). */
  get endpoints(): readonly string[] {
    return this.#http.endpoints;
  }

  #write(options: WriteOptions | undefined): { idempotencyKey?: string } {
    const key = options?.idempotencyKey;
    if (!key) return {};
    requireId(key, 'idempotencyKey');
    // The key travels in the Idempotency-Key header, which carries printable ASCII only.
    if (!HEADER_SAFE.test(key)) {
      throw new InvalidInputError(
        'idempotencyKey must be printable ASCII without leading or trailing spaces to travel in the Idempotency-Key header',
        { field: 'idempotencyKey' },
      );
    }
    return { idempotencyKey: key };
  }

  #post<T>(path: string, body: unknown, options?: WriteOptions, extraTimeoutMs?: number): Promise<T> {
    return this.#http.json<T>({
      method: 'POST',
      path,
      body: body ?? {},
      ...this.#write(options),
      ...(extraTimeoutMs ? { extraTimeoutMs } : {}),
    });
  }

  // A read sent as POST (searches, waits): no idempotency key, so the server keeps nothing of its answer.
  #search<T>(path: string, body: unknown, extraTimeoutMs?: number): Promise<T> {
    return this.#http.json<T>({
      method: 'POST',
      path,
      body: body ?? {},
      read: true,
      ...(extraTimeoutMs ? { extraTimeoutMs } : {}),
    });
  }

  #get<T>(path: string, query?: RequestQuery): Promise<T> {
    return this.#http.json<T>({ method: 'GET', path, ...(query ? { query } : {}) });
  }

  // ---- system -------------------------------------------------------------------------------------

  /** GET /health: `{ status, uptimeMs }`. */
  health(): Promise<{ status: string; uptimeMs: number }> {
    return this.#get('/health');
  }

  /** GET /metrics as Prometheus text. */
  async metrics(): Promise<string> {
    const response = await this.#http.send({
      method: 'GET',
      path: '/metrics',
      headers: { accept: 'text/plain' },
    });
    return typeof response.body === 'string' ? response.body : String(response.body ?? '');
  }

  /** GET /v1/persistence/report; undefined when the server runs without a persistence monitor. */
  async persistenceReport(): Promise<PerformanceReport | undefined> {
    const response = await this.#http.send({ method: 'GET', path: '/v1/persistence/report' });
    if (response.status === 404) return undefined;
    throwIfError(response);
    return response.body as PerformanceReport;
  }

  // ---- rollouts (RolloutStore) --------------------------------------------------------------------

  /** See RolloutStore.startRollout. */
  async startRollout(request: StartRolloutRequest, options?: WriteOptions): Promise<AttemptedRollout> {
    return rolloutFromWire(
      await this.#post<Wire>(`${A}/rollouts`, rolloutRequestToWire(request), options),
    ) as AttemptedRollout;
  }

  /** See RolloutStore.enqueueRollout. */
  async enqueueRollout(request: EnqueueRolloutRequest, options?: WriteOptions): Promise<Rollout> {
    const [rollout] = await this.enqueueManyRollouts([request], options);
    return rollout!;
  }

  /** See RolloutStore.enqueueManyRollouts. */
  async enqueueManyRollouts(requests: EnqueueRolloutRequest[], options?: WriteOptions): Promise<Rollout[]> {
    if (!Array.isArray(requests))
      throw new InvalidInputError('requests must be an array', { field: 'requests' });
    const wire = await this.#post<Wire[]>(
      `${A}/queues/rollouts/enqueue`,
      { rollouts: requests.map(rolloutRequestToWire) },
      options,
    );
    return wire.map(rolloutFromWire);
  }

  /** See RolloutStore.dequeueRollout. */
  async dequeueRollout(options?: DequeueOptions): Promise<AttemptedRollout | null> {
    const [first] = await this.dequeueManyRollouts({ ...options, limit: 1 });
    return first ?? null;
  }

  /** See RolloutStore.dequeueManyRollouts. */
  async dequeueManyRollouts(options?: DequeueManyOptions): Promise<AttemptedRollout[]> {
    const wire = await this.#post<Wire[]>(`${A}/queues/rollouts/dequeue`, {
      limit: options?.limit ?? 1,
      worker_id: options?.workerId ?? null,
    });
    return wire.map(rolloutFromWire) as AttemptedRollout[];
  }

  /** See RolloutStore.startAttempt. */
  async startAttempt(rolloutId: string, options?: StartAttemptOptions): Promise<AttemptedRollout> {
    const wire = await this.#post<Wire>(
      `${A}/rollouts/${enc(rolloutId)}/attempts`,
      { worker_id: options?.workerId ?? null },
      options,
    );
    return rolloutFromWire(wire) as AttemptedRollout;
  }

  /** See RolloutStore.addSpan. */
  async addSpan(span: SpanInput, options?: WriteOptions): Promise<Span | null> {
    const wire = await this.#post<Wire | null>(`${A}/spans`, spanInputToWire(span), options);
    return wire ? spanOutFromWire(wire) : null;
  }

  /** See RolloutStore.addManySpans. */
  async addManySpans(spans: SpanInput[], options?: WriteOptions): Promise<SpanWriteResult> {
    const wire = await this.#post<{
      inserted: number;
      duplicates: number;
      duplicate_spans: Array<{ rollout_id: string; attempt_id: string; span_id: string }>;
    }>(`${A}/x/spans/batch`, { spans: spans.map(spanInputToWire) }, options);
    return {
      inserted: wire.inserted,
      duplicates: wire.duplicates,
      duplicateSpans: wire.duplicate_spans.map((s) => ({
        rolloutId: s.rollout_id,
        attemptId: s.attempt_id,
        spanId: s.span_id,
      })),
    };
  }

  /** See RolloutStore.addOtelSpan (the span is converted here and sent as a plain span). */
  addOtelSpan(
    rolloutId: string,
    attemptId: string,
    span: ReadableSpanLike,
    options?: AddOtelSpanOptions,
  ): Promise<Span | null> {
    return this.addSpan(spanFromOtel(rolloutId, attemptId, span, options?.sequenceId), options);
  }

  /** See RolloutStore.getNextSpanSequenceId. */
  async getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    const wire = await this.#post<{ sequence_id: number }>(`${A}/spans/next`, {
      rollout_id: rolloutId,
      attempt_id: attemptId,
    });
    return wire.sequence_id;
  }

  /** See RolloutStore.querySpans. */
  async querySpans(rolloutId: string, query?: SpanQuery): Promise<PaginatedResult<Span>> {
    const wire = await this.#search<Wire>(`${A}/spans/search`, {
      ...pagedQueryToWire(query),
      rollout_id: rolloutId,
    });
    return trimPage(query, pageFromWire(wire, spanOutFromWire));
  }

  /** See RolloutStore.queryRollouts. */
  async queryRollouts(query?: RolloutQuery): Promise<PaginatedResult<Rollout | AttemptedRollout>> {
    const wire = await this.#search<Wire>(`${A}/rollouts/search`, pagedQueryToWire(query));
    return trimPage(query, pageFromWire(wire, rolloutFromWire));
  }

  /** See RolloutStore.getRolloutById. */
  async getRolloutById(rolloutId: string): Promise<Rollout | AttemptedRollout | null> {
    const wire = await this.#get<Wire | null | undefined>(`${A}/rollouts/${enc(rolloutId)}`);
    return wire ? rolloutFromWire(wire) : null;
  }

  /** See RolloutStore.updateRollout. */
  async updateRollout(rolloutId: string, patch: RolloutPatch, options?: WriteOptions): Promise<Rollout> {
    const wire: Wire = {};
    if ('input' in patch) wire.input = patch.input;
    if (patch.mode !== undefined) wire.mode = patch.mode;
    if (patch.resourcesId !== undefined) wire.resources_id = patch.resourcesId;
    if (patch.status !== undefined) wire.status = patch.status;
    // null travels as null, for the server to refuse as the store does (omitted: unchanged).
    if (patch.config !== undefined)
      wire.config = patch.config === null ? null : configInputToWire(patch.config);
    if (patch.metadata !== undefined) wire.metadata = patch.metadata;
    return rolloutFromWire(await this.#post<Wire>(`${A}/rollouts/${enc(rolloutId)}`, wire, options));
  }

  /** See RolloutStore.queryAttempts. */
  async queryAttempts(rolloutId: string, query?: AttemptQuery): Promise<PaginatedResult<Attempt>> {
    const wire = await this.#search<Wire>(
      `${A}/rollouts/${enc(rolloutId)}/attempts/search`,
      pagedQueryToWire(query),
    );
    return trimPage(query, pageFromWire(wire, attemptFromWire));
  }

  /** See RolloutStore.getLatestAttempt. */
  async getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    const wire = await this.#get<Wire | null | undefined>(`${A}/rollouts/${enc(rolloutId)}/attempts/latest`);
    return wire ? attemptFromWire(wire) : null;
  }

  /** See RolloutStore.updateAttempt. */
  async updateAttempt(
    rolloutId: string,
    attemptId: string,
    patch: AttemptPatch,
    options?: WriteOptions,
  ): Promise<Attempt> {
    const wire: Wire = {};
    if (patch.status !== undefined) wire.status = patch.status;
    if (patch.workerId !== undefined) wire.worker_id = patch.workerId;
    if (patch.lastHeartbeatTime !== undefined) wire.last_heartbeat_time = patch.lastHeartbeatTime;
    if (patch.metadata !== undefined) wire.metadata = patch.metadata;
    const path = `${A}/rollouts/${enc(rolloutId)}/attempts/${enc(attemptId)}`;
    return attemptFromWire(await this.#post<Wire>(path, wire, options));
  }

  /** See RolloutStore.addResources. */
  async addResources(resources: NamedResources, options?: WriteOptions): Promise<ResourcesUpdate> {
    return resourcesUpdateFromWire(
      await this.#post<Wire>(`${A}/resources`, resourcesToWire(resources), options),
    );
  }

  /** See RolloutStore.updateResources. */
  async updateResources(
    resourcesId: string,
    resources: NamedResources,
    options?: WriteOptions,
  ): Promise<ResourcesUpdate> {
    const wire = await this.#post<Wire>(
      `${A}/resources/${enc(resourcesId)}`,
      resourcesToWire(resources),
      options,
    );
    return resourcesUpdateFromWire(wire);
  }

  /** See RolloutStore.queryResources. */
  async queryResources(query?: ResourcesQuery): Promise<PaginatedResult<ResourcesUpdate>> {
    const wire = await this.#get<Wire>(`${A}/resources`, pagedQueryToWire(query) as RequestQuery);
    return trimPage(query, pageFromWire(wire, resourcesUpdateFromWire));
  }

  /** See RolloutStore.getResourcesById. */
  async getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    const wire = await this.#get<Wire | null | undefined>(`${A}/resources/${enc(resourcesId)}`);
    return wire ? resourcesUpdateFromWire(wire) : null;
  }

  /** See RolloutStore.getLatestResources. */
  async getLatestResources(): Promise<ResourcesUpdate | null> {
    const wire = await this.#get<Wire | null | undefined>(`${A}/resources/latest`);
    return wire ? resourcesUpdateFromWire(wire) : null;
  }

  /** See RolloutStore.queryWorkers. */
  async queryWorkers(query?: WorkerQuery): Promise<PaginatedResult<Worker>> {
    const wire = await this.#search<Wire>(`${A}/workers/search`, pagedQueryToWire(query));
    return trimPage(query, pageFromWire(wire, workerFromWire));
  }

  /** See RolloutStore.getWorkerById. */
  async getWorkerById(workerId: string): Promise<Worker | null> {
    const wire = await this.#get<Wire | null | undefined>(`${A}/workers/${enc(workerId)}`);
    return wire ? workerFromWire(wire) : null;
  }

  /** See RolloutStore.updateWorker. */
  async updateWorker(workerId: string, options?: UpdateWorkerOptions): Promise<Worker> {
    const body = options?.heartbeatStats !== undefined ? { heartbeat_stats: options.heartbeatStats } : {};
    return workerFromWire(await this.#post<Wire>(`${A}/workers/${enc(workerId)}`, body, options));
  }

  /** See RolloutStore.waitForRollouts (`timeoutMs` travels as the reference's `timeout` in seconds). */
  async waitForRollouts(options: WaitForRolloutsOptions): Promise<Rollout[]> {
    const timeoutMs = options.timeoutMs ?? null;
    const signal = options.signal;
    let wire: Wire[];
    try {
      wire = await this.#http.json<Wire[]>({
        method: 'POST',
        path: `${A}/waits/rollouts`,
        body: { rollout_ids: options.rolloutIds, timeout: timeoutMs === null ? null : timeoutMs / 1000 },
        read: true,
        // A wait without a limit may take as long as the rollouts do.
        extraTimeoutMs: timeoutMs === null ? 24 * 3600_000 : timeoutMs,
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (!signal?.aborted) throw error;
      // Aborted: the connection closed (ending the server's wait); answer like a timeout, with those
      // finished by now.
      return this.waitForRollouts({ rolloutIds: options.rolloutIds, timeoutMs: 0 });
    }
    return wire.map(rolloutFromWire);
  }

  /** See RolloutStore.statistics. */
  async statistics(): Promise<RolloutStoreStatistics & { backend: string }> {
    const stats = statisticsFromWire(await this.#get<Wire>(`${A}/statistics`));
    // `name` is this store's name, as for every RolloutStore; the server's own backend is `backend`.
    return { ...stats, name: this.name, backend: stats.name };
  }

  /** See RolloutStore.runHealthCheck (needs an admin token when tokens are configured). */
  async runHealthCheck(): Promise<void> {
    await this.#post(`${A}/x/health-check`, {});
  }

  /** See RolloutStore.pruneFinished (needs an admin token when tokens are configured). */
  async pruneFinished(options: PruneOptions): Promise<PruneResult> {
    const wire = await this.#post<{
      rollouts: number;
      attempts: number;
      spans: number;
      idempotency_keys: number;
    }>(`${A}/x/prune`, { older_than_ms: options.olderThanMs });
    return {
      rollouts: wire.rollouts,
      attempts: wire.attempts,
      spans: wire.spans,
      idempotencyKeys: wire.idempotency_keys,
    };
  }

  // ---- documents ----------------------------------------------------------------------------------

  /** Reads a document; undefined when missing. */
  async getDocument<V = unknown>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
    const response = await this.#http.send({ method: 'GET', path: `/v1/state/${enc(namespace)}/${enc(id)}` });
    if (response.status === 404) return undefined;
    throwIfError(response);
    return response.body as StoredDocument<V>;
  }

  /** Writes a document; `expectedRevision` makes it a compare-and-set (stale: RevisionConflictError). */
  putDocument<V = unknown>(
    namespace: string,
    id: string,
    value: V,
    options: PutOptions = {},
  ): Promise<StoredDocument<V>> {
    return this.#http.json({
      method: 'PUT',
      path: `/v1/state/${enc(namespace)}/${enc(id)}`,
      body: { value, ...options },
    });
  }

  /** Deletes a document; false when it did not exist. */
  async deleteDocument(
    namespace: string,
    id: string,
    options: { expectedRevision?: number } = {},
  ): Promise<boolean> {
    const response = await this.#http.send({
      method: 'DELETE',
      path: `/v1/state/${enc(namespace)}/${enc(id)}`,
      query: { expectedRevision: options.expectedRevision },
    });
    if (response.status === 404) return false;
    throwIfError(response);
    return true;
  }

  /** Lists documents of a namespace, one page at a time. */
  listDocuments<V = unknown>(namespace: string, options: ListOptions = {}): Promise<ListPage<V>> {
    return this.#get(`/v1/state/${enc(namespace)}`, { ...options });
  }

  /** Closes the client: requests in flight are aborted and new calls throw ClosedError. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#http.close();
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }
}

type RequestQuery = Record<string, string | number | boolean | readonly string[] | null | undefined>;
