/**
 * `agentstate/client`: the HTTP API as a typed client and nothing else. It loads no database driver, no
 * server framework, no native module and no Node builtin (only the globals `fetch` and `crypto`), so it
 * fits any Node or edge-like runtime that can reach an `agentstate serve`. The error classes are here too,
 * for `instanceof` checks.
 */

export {
  AgentStateClient,
  type AgentStateClientOptions,
  type RemoteLock,
  type RemoteSession,
  SessionsClient,
  type TransportOptions,
  TtlClient,
} from './client/index.ts';
export {
  AgentStateError,
  AlreadyExistsError,
  CapacityExceededError,
  ClosedError,
  CorruptStateError,
  type ErrorCode,
  type ErrorDetails,
  InvalidInputError,
  isAgentStateError,
  NotFoundError,
  RevisionConflictError,
  TimeoutError,
} from './errors.ts';
export type {
  Attempt,
  AttemptedRollout,
  EnqueueRolloutRequest,
  NamedResources,
  PaginatedResult,
  ReadableSpanLike,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutQuery,
  RolloutStatus,
  RolloutStore,
  Span,
  SpanInput,
  SpanQuery,
  Worker,
} from './rollouts/model.ts';
