/**
 * Every error agentstate throws. Each class carries a stable `code` (the contract callers switch on; the
 * HTTP server maps it to a status), a message that says what to do, and `details` naming the offending
 * key, id or path. Classes are created once and reused, as Fastify does with its error factory.
 */

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'REVISION_CONFLICT'
  | 'PARALLEL_MERGE_CONFLICT'
  | 'BASE_REVISION_MISMATCH'
  | 'UNKNOWN_KEY'
  | 'UNKNOWN_TYPE'
  | 'CORRUPT_STATE'
  | 'CAPACITY_EXCEEDED'
  | 'RATE_LIMITED'
  | 'NOT_REPRESENTABLE'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'UNAVAILABLE'
  | 'MISSING_DEPENDENCY'
  | 'INTERNAL';

/** Extra facts about an error: the key, id, path or values involved. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** Base class of every error thrown by agentstate. */
export class AgentStateError extends Error {
  /** Stable code callers can switch on. */
  readonly code: ErrorCode;
  /** The offending key, id, path and related facts. */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
    this.name = new.target.name;
  }

  /** Plain JSON form used by the HTTP API: `{ code, message, details }`. */
  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Bad argument or value: wrong type, out of range, not storable. */
export class InvalidInputError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('INVALID_INPUT', message, details, options);
  }
}

/** A value cannot be encoded: function, symbol, cycle, unregistered class. `details.path` says where. */
export class UnsupportedValueError extends InvalidInputError {}

/** The thing asked for does not exist. */
export class NotFoundError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('NOT_FOUND', message, details);
  }
}

/** Creating something whose id is already taken. */
export class AlreadyExistsError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('ALREADY_EXISTS', message, details);
  }
}

/** A compare-and-set write found another revision than the one expected; nothing was written. */
export class RevisionConflictError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('REVISION_CONFLICT', message, details);
  }
}

/** Two parallel batches wrote the same exclusive state key. */
export class ParallelMergeConflictError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('PARALLEL_MERGE_CONFLICT', message, details);
  }
}

/** Batches to merge were not all taken from the same base revision. */
export class BaseRevisionMismatchError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('BASE_REVISION_MISMATCH', message, details);
  }
}

/** A state key that the store does not know. */
export class UnknownKeyError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('UNKNOWN_KEY', message, details);
  }
}

/** Stored data names a type (codec tag, module type) that is not registered; nothing is instantiated. */
export class UnknownTypeError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('UNKNOWN_TYPE', message, details);
  }
}

/** Stored data is unreadable. It is kept aside (never overwritten); `details` says where. */
export class CorruptStateError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('CORRUPT_STATE', message, details, options);
  }
}

/** A bound (bytes, entries) would be exceeded; nothing was stored. */
export class CapacityExceededError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('CAPACITY_EXCEEDED', message, details);
  }
}

/**
 * Too many requests of a kind are in progress (open long-poll waits); nothing was done. Unlike
 * CAPACITY_EXCEEDED (this request is too large), the same request succeeds later:
 * `details.retryAfterSeconds` says when to try again.
 */
export class RateLimitedError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('RATE_LIMITED', message, details);
  }
}

/** An operation did not finish within its `timeoutMs`. */
export class TimeoutError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('TIMEOUT', message, details);
  }
}

/** The store or client was closed before or during the call. */
export class ClosedError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('CLOSED', message, details);
  }
}

/** An optional package this call needs (a database driver) is not installed; `details.package` names it. */
export class MissingDependencyError extends AgentStateError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('MISSING_DEPENDENCY', message, details, options);
  }
}

// The subclass of each code that has one; the others (UNAUTHORIZED, FORBIDDEN, UNAVAILABLE, INTERNAL) are
// plain AgentStateErrors with that code.
const CLASS_BY_CODE: Partial<
  Record<ErrorCode, new (message: string, details: ErrorDetails) => AgentStateError>
> = {
  INVALID_INPUT: InvalidInputError,
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  REVISION_CONFLICT: RevisionConflictError,
  PARALLEL_MERGE_CONFLICT: ParallelMergeConflictError,
  BASE_REVISION_MISMATCH: BaseRevisionMismatchError,
  UNKNOWN_KEY: UnknownKeyError,
  UNKNOWN_TYPE: UnknownTypeError,
  CORRUPT_STATE: CorruptStateError,
  CAPACITY_EXCEEDED: CapacityExceededError,
  RATE_LIMITED: RateLimitedError,
  TIMEOUT: TimeoutError,
  CLOSED: ClosedError,
  MISSING_DEPENDENCY: MissingDependencyError,
};

/** The error for `code` as the class thrown in-process (e.g. rebuilt from the server's JSON by the client). */
export function errorForCode(code: ErrorCode, message: string, details: ErrorDetails = {}): AgentStateError {
  // Own keys only: a code is data from the wire, and `toString` must not find Object.prototype's.
  const Class = Object.hasOwn(CLASS_BY_CODE, code) ? CLASS_BY_CODE[code] : undefined;
  return Class ? new Class(message, details) : new AgentStateError(code, message, details);
}

/** True when `error` is an AgentStateError, optionally with the given code. */
export function isAgentStateError(error: unknown, code?: ErrorCode): error is AgentStateError {
  return error instanceof AgentStateError && (code === undefined || error.code === code);
}

/** The text of anything thrown: its string `message` when it has one, else the value as a string. */
export function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(error);
}
