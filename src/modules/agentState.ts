/**
 * `AgentStateModule`: the state of one agent (seed 004, section 3.1): status, current task, a bounded
 * conversation context and performance metrics. Times are epoch ms from an injectable clock, so expiry
 * and response times are testable without waiting.
 */
import { InvalidInputError } from '../errors.ts';
import {
  integerAtLeast,
  nonEmptyString,
  oneOf,
  requireNonEmptyString,
  requirePlainObject,
  stringOrNull,
  timestamp,
  timestampOrNull,
} from './checks.ts';
import { StateModule, type StateModuleOptions } from './stateModule.ts';

/** Every status an agent can be in. */
export const AGENT_STATUSES = ['idle', 'busy', 'error', 'offline', 'initializing'] as const;

/** What an agent is doing. */
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** Performance counters of one agent. */
export interface AgentMetrics {
  /** Conversation messages ever added (not only those still in the bounded context). */
  totalMessages: number;
  /** Tasks completed successfully. */
  successfulTasks: number;
  /** Tasks completed with failure. */
  failedTasks: number;
  /** Exponential moving average of task response times, ms (0 before the first sample). */
  averageResponseTimeMs: number;
  /** Last status change, task or message, epoch ms (null before any). */
  lastActivityAt: number | null;
}

/** A conversation message as stored: the caller's fields plus the time it was added. */
export interface ConversationMessage {
  /** Epoch ms when it was added. */
  timestamp: number;
  /** Any other fields the caller gave (role, content...). */
  [field: string]: unknown;
}

/** Options of `AgentStateModule`. */
export interface AgentStateModuleOptions extends StateModuleOptions {
  /** Most conversation messages kept, oldest dropped first (default 1000). Saved with the state. */
  maxContextMessages?: number;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
}

/** Weight of the newest sample in the moving average of response times (the seed's alpha). */
const RESPONSE_TIME_ALPHA = 0.1;

const metricsKeys = ['totalMessages', 'successfulTasks', 'failedTasks', 'averageResponseTimeMs'] as const;

function validMetrics(value: unknown): true | string {
  if (value === null || typeof value !== 'object') return 'must be an object of counters';
  const m = value as Record<string, unknown>;
  for (const key of metricsKeys) {
    if (typeof m[key] !== 'number' || !Number.isFinite(m[key]) || (m[key] as number) < 0)
      return `${key} must be a number >= 0`;
  }
  return timestampOrNull(m.lastActivityAt) === true || 'lastActivityAt must be epoch ms or null';
}

function checkResponseTime(responseTimeMs: unknown): asserts responseTimeMs is number {
  if (typeof responseTimeMs !== 'number' || !Number.isFinite(responseTimeMs) || responseTimeMs < 0) {
    throw new InvalidInputError(
      `responseTimeMs must be a finite number >= 0, got ${String(responseTimeMs)}`,
      {
        responseTimeMs,
      },
    );
  }
}

/** State of one agent: status, current task, bounded conversation context, metrics. */
export class AgentStateModule extends StateModule {
  /** The agent's id (data, never a path). */
  agentId: string;
  /** What the agent is doing. */
  status: AgentStatus = 'idle';
  /** Why the status last changed, if a reason was given. */
  statusReason: string | null = null;
  /** When the status last changed, epoch ms. */
  statusChangedAt: number;
  /** The task in progress, or null. */
  currentTaskId: string | null = null;
  /** When the task in progress started, epoch ms, or null. */
  taskStartedAt: number | null = null;
  /** The most recent conversation messages, oldest first, at most `maxContextMessages`. */
  conversation: ConversationMessage[] = [];
  /** Bound of `conversation`. */
  maxContextMessages: number;
  /** Performance counters. */
  metrics: AgentMetrics = {
    totalMessages: 0,
    successfulTasks: 0,
    failedTasks: 0,
    averageResponseTimeMs: 0,
    lastActivityAt: null,
  };
  /** The clock (not state). */
  clock: () => number;

  constructor(agentId: string, options: AgentStateModuleOptions = {}) {
    super(options);
    requireNonEmptyString(agentId, 'agentId');
    this.agentId = agentId;
    this.clock = options.now ?? Date.now;
    this.statusChangedAt = this.clock();
    this.maxContextMessages = options.maxContextMessages ?? 1000;
    this.registerState('agentId', { validate: nonEmptyString });
    this.registerState('status', { validate: oneOf(AGENT_STATUSES) });
    this.registerState('statusReason', { validate: stringOrNull });
    this.registerState('statusChangedAt', { validate: timestamp });
    this.registerState('currentTaskId', { validate: stringOrNull });
    this.registerState('taskStartedAt', { validate: timestampOrNull });
    this.registerState('maxContextMessages', { validate: integerAtLeast(1) });
    this.registerState('conversation', {
      validate: (v) => Array.isArray(v) || 'must be an array of messages',
    });
    this.registerState('metrics', { validate: validMetrics });
  }

  /** Sets the status (and why); listeners of `status` fire. */
  updateStatus(status: AgentStatus, reason?: string): void {
    this.status = status;
    this.statusReason = reason ?? null;
    this.statusChangedAt = this.clock();
    this.#touch();
  }

  /** Marks the agent busy with `taskId`. Throws if another task is in progress. */
  startTask(taskId: string): void {
    requireNonEmptyString(taskId, 'taskId');
    if (this.currentTaskId !== null) {
      throw new InvalidInputError(
        `agent '${this.agentId}' is already running task '${this.currentTaskId}'; complete it first`,
        { agentId: this.agentId, taskId, currentTaskId: this.currentTaskId },
      );
    }
    this.currentTaskId = taskId;
    this.taskStartedAt = this.clock();
    this.updateStatus('busy', `started task ${taskId}`);
  }

  /**
   * Ends the task in progress, counts it as a success or failure and records its response time (from
   * `startTask` to now, unless `responseTimeMs` is given). The agent becomes idle.
   */
  completeTask(success = true, options: { responseTimeMs?: number } = {}): void {
    if (this.currentTaskId === null) {
      throw new InvalidInputError(`agent '${this.agentId}' has no task in progress`, {
        agentId: this.agentId,
      });
    }
    // Checked before anything changes: a refused time must leave the task in progress and uncounted, so
    // a retry counts it once. A clock that stepped back (NTP) gives 0 rather than a refusal.
    const elapsed =
      options.responseTimeMs ?? Math.max(0, this.clock() - (this.taskStartedAt ?? this.clock()));
    checkResponseTime(elapsed);
    const taskId = this.currentTaskId;
    this.metrics = {
      ...this.metrics,
      successfulTasks: this.metrics.successfulTasks + (success ? 1 : 0),
      failedTasks: this.metrics.failedTasks + (success ? 0 : 1),
    };
    this.recordResponseTime(elapsed);
    this.currentTaskId = null;
    this.taskStartedAt = null;
    this.updateStatus('idle', `${success ? 'completed' : 'failed'} task ${taskId}`);
  }

  /** Adds a response time sample (ms) to the moving average. */
  recordResponseTime(responseTimeMs: number): void {
    checkResponseTime(responseTimeMs);
    const previous = this.metrics.averageResponseTimeMs;
    // As in the seed, 0 means "no sample yet": the first sample is taken as it is.
    this.metrics = {
      ...this.metrics,
      averageResponseTimeMs:
        previous === 0
          ? responseTimeMs
          : RESPONSE_TIME_ALPHA * responseTimeMs + (1 - RESPONSE_TIME_ALPHA) * previous,
    };
  }

  /**
   * Appends a message (a plain object; its fields are kept and a `timestamp` is added) and drops the
   * oldest beyond `maxContextMessages`. A value the codec cannot store is refused here, naming the path.
   */
  addConversationMessage(message: Record<string, unknown>): ConversationMessage {
    requirePlainObject(message, 'message');
    const stored: ConversationMessage = { ...message, timestamp: this.clock() };
    this.stateCodec().assertEncodable(stored, `$.conversation[${this.conversation.length}]`);
    this.conversation.push(stored);
    const excess = this.conversation.length - this.maxContextMessages;
    if (excess > 0) this.conversation.splice(0, excess);
    this.markChanged('conversation');
    this.metrics = { ...this.metrics, totalMessages: this.metrics.totalMessages + 1 };
    this.#touch();
    return stored;
  }

  /** The last `lastN` messages of the context (all of them when `lastN` is omitted or <= 0). */
  getConversation(lastN?: number): ConversationMessage[] {
    return lastN !== undefined && lastN > 0 ? this.conversation.slice(-lastN) : this.conversation.slice();
  }

  /** Successful tasks / completed tasks (0 when none completed). */
  get successRate(): number {
    const total = this.metrics.successfulTasks + this.metrics.failedTasks;
    return total > 0 ? this.metrics.successfulTasks / total : 0;
  }

  #touch(): void {
    this.metrics = { ...this.metrics, lastActivityAt: this.clock() };
  }
}
