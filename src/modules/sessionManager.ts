/**
 * `SessionManager`: the sessions of a process (seed 004, section 4.2): create, find, end, expire, save and
 * load. Expiry uses the injected clock; the periodic cleanup timer is unref()'d so it never keeps the
 * process alive (the seed's asyncio task did), and an error in it is reported instead of ending it.
 */
import type { DocumentStore } from '../drivers/index.ts';
import { AlreadyExistsError, InvalidInputError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { StateChangeTracker, type StateChangeTrackerOptions } from './changeTracker.ts';
import { requireModuleId, requirePositive } from './checks.ts';
import { ModuleCollection, type SaveAllResult } from './moduleCollection.ts';
import { type ModuleTypeRegistry, moduleTypes } from './moduleTypes.ts';
import { SESSION_STATUSES, SessionStateModule, type SessionStatus } from './sessionState.ts';
import type { LoadStateOptions } from './stateModule.ts';
import { managerRepository, type StateRepository } from './stateRepository.ts';

/** Options of `SessionManager`. */
export interface SessionManagerOptions {
  /** Where `saveAll`/`loadAll` keep the sessions (through a `StateRepository` with `types`). */
  store?: DocumentStore;
  /** The repository to save and load through, instead of `store`. */
  repository?: StateRepository;
  /** Namespace of the session documents (default `sessions`). */
  namespace?: string;
  /** Module types allowed when loading (default: the default registry). */
  types?: ModuleTypeRegistry;
  /** Clock in epoch ms, for creation times and expiry (default `Date.now`). */
  now?: () => number;
  /** Makes the module of a new session (default `new SessionStateModule(id, { now })`); its class must be registered. */
  createSession?: (sessionId: string) => SessionStateModule;
  /** Options of the change tracker. */
  tracker?: StateChangeTrackerOptions;
  /** Receives errors of the periodic cleanup (`startCleanup`) (default: a process warning). */
  onError?: BackgroundErrorHandler;
  /** @deprecated Use `onError`; when both are given, this one gets the cleanup errors. */
  onCleanupError?: (error: unknown) => void;
}

/** Options of `createSession`. */
export interface CreateSessionOptions {
  /** Initial participants. */
  participants?: string[];
  /** Expire this many ms after creation. */
  expiresInMs?: number;
}

/** Counts over all sessions. */
export interface SessionMetrics {
  /** Sessions managed. */
  totalSessions: number;
  /** Sessions per status. */
  byStatus: Record<SessionStatus, number>;
  /** Messages ever added, over all sessions. */
  totalMessages: number;
  /** Distinct participants over all sessions. */
  totalParticipants: number;
  /** totalMessages / totalSessions (0 when none). */
  averageMessagesPerSession: number;
}

/** Manages many sessions: create, find, end, expire, save and load. */
export class SessionManager {
  /** Records changes and keeps snapshots of every managed session. */
  readonly tracker: StateChangeTracker;
  readonly #sessions: ModuleCollection<SessionStateModule>;
  readonly #now: () => number;
  readonly #create: (sessionId: string) => SessionStateModule;
  readonly #onError: BackgroundErrorHandler | undefined;
  #cleanupTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: SessionManagerOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#create = options.createSession ?? ((id) => new SessionStateModule(id, { now: this.#now }));
    const { onCleanupError } = options;
    this.#onError = onCleanupError ? (error) => onCleanupError(error) : options.onError;
    this.tracker = new StateChangeTracker({ now: this.#now, ...options.tracker });
    this.#sessions = new ModuleCollection<SessionStateModule>({
      repository: managerRepository(options),
      namespace: options.namespace ?? 'sessions',
      types: options.types ?? moduleTypes,
      expected: SessionStateModule,
      label: 'session',
      idOf: (session) => session.sessionId,
      onAdd: (id, session) => {
        session.clock = this.#now;
        this.tracker.register(id, session, { initialSnapshot: false });
      },
      onRemove: (id) => {
        this.tracker.unregister(id);
      },
      // Messages are stored as appended chunks: a save writes only the sessions that changed, and of a
      // session whose messages only grew, only the new messages.
      appendLog: {
        attribute: 'messages',
        namespace: `${options.namespace ?? 'sessions'}.messages`,
        // Messages beyond maxMessages are dropped from the front; messageCount counts every one added.
        offsetOf: (module) => {
          const session = module as SessionStateModule;
          return session.messageCount - session.messages.length;
        },
      },
    });
  }

  /** Creates a session. A taken id throws `ALREADY_EXISTS`. */
  createSession(sessionId: string, options: CreateSessionOptions = {}): SessionStateModule {
    requireModuleId(sessionId, 'sessionId');
    if (this.#sessions.has(sessionId)) {
      throw new AlreadyExistsError(`session '${sessionId}' already exists`, { sessionId });
    }
    if (options.expiresInMs !== undefined) requirePositive(options.expiresInMs, 'expiresInMs');
    // A bare string would be iterated letter by letter into one participant per character.
    if (options.participants !== undefined && !Array.isArray(options.participants)) {
      throw new InvalidInputError('participants must be an array of participant ids', {
        participants: options.participants,
      });
    }
    const session = this.#create(sessionId);
    // Caught here: a session kept under one id but carrying another would make every later saveAll fail.
    if (session.sessionId !== sessionId) {
      throw new InvalidInputError(
        `createSession('${sessionId}'): the createSession option returned a session with id '${session.sessionId}'`,
        { sessionId, createdId: session.sessionId },
      );
    }
    for (const participant of options.participants ?? []) session.addParticipant(participant);
    if (options.expiresInMs !== undefined) session.setExpiration(options.expiresInMs);
    this.#sessions.add(sessionId, session);
    return session;
  }

  /** The session, or undefined. */
  getSession(sessionId: string): SessionStateModule | undefined {
    return this.#sessions.get(sessionId);
  }

  /** Ends a session (kept, with status `ended`); false when unknown. */
  endSession(sessionId: string, reason?: string): boolean {
    const session = this.#sessions.get(sessionId);
    if (!session) return false;
    session.end(reason);
    return true;
  }

  /** Removes a session (its document goes at the next `saveAll`); false when unknown. */
  removeSession(sessionId: string): boolean {
    return this.#sessions.remove(sessionId);
  }

  /** Every session id. */
  sessionIds(): string[] {
    return this.#sessions.ids();
  }

  /** Every session, in creation (or load) order. */
  listSessions(): SessionStateModule[] {
    return this.#sessions.values();
  }

  /** Sessions with this status. */
  sessionsByStatus(status: SessionStatus): SessionStateModule[] {
    return this.#sessions.values().filter((s) => s.status === status);
  }

  /** Sessions this participant is in. */
  sessionsByParticipant(participantId: string): SessionStateModule[] {
    return this.#sessions.values().filter((s) => s.participants.includes(participantId));
  }

  /** Marks every session past its expiry as expired and removes it; returns how many. */
  cleanupExpired(): number {
    const now = this.#now();
    let removed = 0;
    for (const session of this.#sessions.values()) {
      if (!session.isExpired(now)) continue;
      session.markExpired();
      this.#sessions.remove(session.sessionId);
      removed++;
    }
    return removed;
  }

  /** Runs `cleanupExpired` every `intervalMs` (replacing an earlier schedule); never keeps the process alive. */
  startCleanup(intervalMs: number): void {
    requirePositive(intervalMs, 'intervalMs');
    this.stopCleanup();
    this.#cleanupTimer = setInterval(() => {
      try {
        this.cleanupExpired();
      } catch (error) {
        reportBackgroundError(this.#onError, error, { source: 'SessionManager cleanup' });
      }
    }, intervalMs);
    this.#cleanupTimer.unref();
  }

  /** Stops the periodic cleanup. */
  stopCleanup(): void {
    if (this.#cleanupTimer !== undefined) clearInterval(this.#cleanupTimer);
    this.#cleanupTimer = undefined;
  }

  /**
   * Saves the sessions (and deletes removed ones) in one atomic batch: all or none. Incremental: an
   * unchanged session is not written, one whose messages only grew gets its new messages appended.
   */
  saveAll(): Promise<SaveAllResult> {
    return this.#sessions.saveAll();
  }

  /** Replaces the sessions in memory with the saved ones (all or nothing); returns how many. */
  loadAll(options: LoadStateOptions = {}): Promise<number> {
    return this.#sessions.loadAll(options);
  }

  /** Counts over all sessions. */
  metrics(): SessionMetrics {
    const byStatus = Object.fromEntries(SESSION_STATUSES.map((s) => [s, 0])) as Record<SessionStatus, number>;
    const participants = new Set<string>();
    let totalMessages = 0;
    for (const session of this.#sessions.values()) {
      byStatus[session.status]++;
      totalMessages += session.messageCount;
      for (const p of session.participants) participants.add(p);
    }
    const total = this.#sessions.size;
    return {
      totalSessions: total,
      byStatus,
      totalMessages,
      totalParticipants: participants.size,
      averageMessagesPerSession: total > 0 ? totalMessages / total : 0,
    };
  }

  /** Stops the cleanup timer. */
  close(): void {
    this.stopCleanup();
  }
}
