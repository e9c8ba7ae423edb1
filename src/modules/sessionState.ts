/**
 * `SessionStateModule`: one conversation session (seed 004, section 4.1): participants, messages with ids
 * and timestamps (bounded), a context map, status and expiry. Participant activity and context are Maps,
 * so ids such as `__proto__` are ordinary keys. Messages added after the session ended or expired are
 * refused (the seed accepted them silently).
 */
import { InvalidInputError } from '../errors.ts';
import {
  integerAtLeast,
  nonEmptyString,
  oneOf,
  requireNonEmptyString,
  requirePlainObject,
  requirePositive,
  stringOrNull,
  timestamp,
  timestampOrNull,
} from './checks.ts';
import { markAppended } from './incrementalSaves.ts';
import { StateModule, type StateModuleOptions } from './stateModule.ts';

/** Every status a session can be in. */
export const SESSION_STATUSES = ['active', 'paused', 'ended', 'expired'] as const;

/** Lifecycle state of a session. */
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** A message as stored: the caller's fields plus id, sender and time. */
export interface SessionMessage {
  /** `msg_<n>`, unique within the session. */
  id: string;
  /** Who sent it, or null. */
  senderId: string | null;
  /** Epoch ms when it was added. */
  timestamp: number;
  /** Any other fields the caller gave (role, content...). */
  [field: string]: unknown;
}

/** Filter of `getMessages`. */
export interface MessageQuery {
  /** Only the most recent `limit` (after the sender filter). */
  limit?: number;
  /** Only messages from this sender. */
  senderId?: string;
}

/** Overview of a session. */
export interface SessionSummary {
  /** The session's id. */
  sessionId: string;
  /** Lifecycle state. */
  status: SessionStatus;
  /** Participants now. */
  participantCount: number;
  /** Messages ever added (not only those still kept). */
  messageCount: number;
  /** Time since creation, ms. */
  durationMs: number;
  /** Creation time, epoch ms. */
  createdAt: number;
  /** Expiry time, epoch ms, or null. */
  expiresAt: number | null;
  /** Whether the expiry time has passed. */
  isExpired: boolean;
}

/** Options of `SessionStateModule`. */
export interface SessionStateModuleOptions extends StateModuleOptions {
  /** Most messages kept, oldest dropped first (default 10 000). Saved with the state. */
  maxMessages?: number;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
}

const isStringArray = (v: unknown): true | string =>
  (Array.isArray(v) && v.every((p) => typeof p === 'string')) || 'must be an array of strings';
const isMap = (v: unknown): true | string => v instanceof Map || 'must be a Map';

/** State of one session: participants, bounded messages, context, status, expiry. */
export class SessionStateModule extends StateModule {
  /** The session's id (data, never a path). */
  sessionId: string;
  /** Participant ids, in the order they joined. */
  participants: string[] = [];
  /** The most recent messages, oldest first, at most `maxMessages`. */
  messages: SessionMessage[] = [];
  /** Bound of `messages`. */
  maxMessages: number;
  /** Free-form context of the session. */
  context = new Map<string, unknown>();
  /** Lifecycle state. */
  status: SessionStatus = 'active';
  /** Why the status last changed (pause or end reason), or null. */
  statusReason: string | null = null;
  /** Creation time, epoch ms. */
  createdAt: number;
  /** Expiry time, epoch ms, or null for never. */
  expiresAt: number | null = null;
  /** Messages ever added; message ids count from it. */
  messageCount = 0;
  /** Last activity per participant, epoch ms. */
  participantActivity = new Map<string, number>();
  /** The clock (not state). */
  clock: () => number;

  constructor(sessionId: string, options: SessionStateModuleOptions = {}) {
    super(options);
    requireNonEmptyString(sessionId, 'sessionId');
    this.sessionId = sessionId;
    this.clock = options.now ?? Date.now;
    this.createdAt = this.clock();
    this.maxMessages = options.maxMessages ?? 10_000;
    this.registerState('sessionId', { validate: nonEmptyString });
    this.registerState('participants', { validate: isStringArray });
    this.registerState('maxMessages', { validate: integerAtLeast(1) });
    this.registerState('messages', { validate: (v) => Array.isArray(v) || 'must be an array of messages' });
    this.registerState('context', { validate: isMap });
    this.registerState('status', { validate: oneOf(SESSION_STATUSES) });
    this.registerState('statusReason', { validate: stringOrNull });
    this.registerState('createdAt', { validate: timestamp });
    this.registerState('expiresAt', { validate: timestampOrNull });
    this.registerState('messageCount', { validate: integerAtLeast(0) });
    this.registerState('participantActivity', { validate: isMap });
  }

  /** Adds a participant (no-op if present); returns whether it was added. */
  addParticipant(participantId: string): boolean {
    requireNonEmptyString(participantId, 'participantId');
    if (this.participants.includes(participantId)) return false;
    this.participants = [...this.participants, participantId];
    this.participantActivity.set(participantId, this.clock());
    this.markChanged('participantActivity');
    return true;
  }

  /** Removes a participant; returns whether it was there. */
  removeParticipant(participantId: string): boolean {
    if (!this.participants.includes(participantId)) return false;
    this.participants = this.participants.filter((p) => p !== participantId);
    this.participantActivity.delete(participantId);
    this.markChanged('participantActivity');
    return true;
  }

  /**
   * Appends a message (a plain object; its fields are kept, `id`, `senderId` and `timestamp` are set by
   * the session) and drops the oldest beyond `maxMessages`. Refused once the session ended or expired.
   */
  addMessage(message: Record<string, unknown>, senderId?: string): SessionMessage {
    requirePlainObject(message, 'message');
    if (this.status === 'ended' || this.status === 'expired') {
      throw new InvalidInputError(
        `session '${this.sessionId}' is ${this.status}; it accepts no more messages`,
        {
          sessionId: this.sessionId,
          status: this.status,
        },
      );
    }
    if (senderId !== undefined) requireNonEmptyString(senderId, 'senderId');
    const timestamp = this.clock();
    const stored: SessionMessage = {
      ...message,
      id: `msg_${this.messageCount + 1}`,
      senderId: senderId ?? null,
      timestamp,
    };
    this.stateCodec().assertEncodable(stored, `$.messages[${this.messages.length}]`);
    this.messages.push(stored);
    const excess = this.messages.length - this.maxMessages;
    if (excess > 0) this.messages.splice(0, excess);
    // A pure append (oldest dropped beyond maxMessages): an incremental save writes only the new message.
    markAppended(this, 'messages');
    this.messageCount += 1;
    if (senderId !== undefined && this.participants.includes(senderId)) {
      this.participantActivity.set(senderId, timestamp);
      this.markChanged('participantActivity');
    }
    return stored;
  }

  /** Messages, oldest first, optionally only from `senderId` and only the last `limit`. */
  getMessages(query: MessageQuery = {}): SessionMessage[] {
    const { senderId, limit } = query;
    const matching =
      senderId === undefined ? this.messages.slice() : this.messages.filter((m) => m.senderId === senderId);
    return limit !== undefined && limit > 0 ? matching.slice(-limit) : matching;
  }

  /** Sets a context entry. */
  updateContext(key: string, value: unknown): void {
    this.stateCodec().assertEncodable(value, `$.context.get(${JSON.stringify(key)})`);
    this.context.set(key, value);
    this.markChanged('context');
  }

  /** Reads a context entry. */
  getContext(key: string): unknown {
    return this.context.get(key);
  }

  /** Pauses an active session. */
  pause(reason?: string): void {
    this.#transition(['active'], 'paused', reason);
  }

  /** Resumes a paused session. */
  resume(): void {
    this.#transition(['paused'], 'active');
  }

  /** Ends an active or paused session; a session already ended or expired stays as it is. */
  end(reason?: string): void {
    if (this.status === 'ended' || this.status === 'expired') return;
    this.#transition(['active', 'paused'], 'ended', reason);
  }

  /** Marks the session expired (the manager's cleanup does this). */
  markExpired(): void {
    this.status = 'expired';
    this.statusReason = 'expired';
  }

  /** Makes the session expire `expiresInMs` from now. */
  setExpiration(expiresInMs: number): void {
    requirePositive(expiresInMs, 'expiresInMs');
    this.expiresAt = this.clock() + expiresInMs;
  }

  /** Removes the expiry. */
  clearExpiration(): void {
    this.expiresAt = null;
  }

  /** Whether the expiry time has passed (at `now`, default the session's clock). */
  isExpired(now: number = this.clock()): boolean {
    return this.expiresAt !== null && now >= this.expiresAt;
  }

  /** Overview: status, counts, duration, expiry. */
  summary(): SessionSummary {
    const now = this.clock();
    return {
      sessionId: this.sessionId,
      status: this.status,
      participantCount: this.participants.length,
      messageCount: this.messageCount,
      durationMs: now - this.createdAt,
      createdAt: this.createdAt,
      expiresAt: this.expiresAt,
      isExpired: this.isExpired(now),
    };
  }

  #transition(from: readonly SessionStatus[], to: SessionStatus, reason?: string): void {
    if (!from.includes(this.status)) {
      throw new InvalidInputError(`session '${this.sessionId}' is ${this.status}; cannot make it ${to}`, {
        sessionId: this.sessionId,
        status: this.status,
        to,
      });
    }
    this.status = to;
    this.statusReason = reason ?? null;
  }
}
