/**
 * The storage interface a document driver implements. The shared layer (documentStore.ts) implements the
 * public `DocumentStore` on top of it once: argument checks, the closed check, the value codec,
 * compression/encryption, TTL arithmetic, change events and the sweep timer. A driver only stores rows.
 */
import type { Codec, JsonValue } from '../../codec/index.ts';
import type { BackgroundErrorHandler } from '../../shared/backgroundErrors.ts';
import type { ChangeHub } from '../shared/changeHub.ts';
import type { PackedPayload, PayloadSettings } from '../shared/payload.ts';
import type { ListQuery, NamespaceQuery } from '../shared/validate.ts';
import type { StorageInfo } from '../types.ts';

/** A value or a promise of it: in-process drivers answer synchronously and skip a promise. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A stored document as a driver reads it. The value is given as its codec form (`json`, kept by the memory
 * driver) and/or as the stored JSON text or compressed/encrypted bytes (`stored`); metadata and storage
 * as objects or as their stored JSON text. Times are epoch ms; null means absent (SQL rows map directly).
 */
export interface StoredRow {
  /** The id: required from `scan` and `readMany`, ignored from `read` (the caller knows it). */
  readonly id?: string;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt?: number | null;
  /** The value's codec form, when the driver keeps it parsed. */
  readonly json?: JsonValue;
  /** The stored text or bytes: verified against the checksum, and parsed when `json` is absent. */
  readonly stored?: string | Uint8Array;
  /** Metadata's codec form, or its stored JSON text. */
  readonly metadata?: JsonValue | string | null;
  /** Storage facts, their stored JSON text, or a function computing them on first use. */
  readonly storage?: StorageInfo | string | (() => StorageInfo) | null;
  /** Where the row was read, for error messages, when it differs per row (a file path). */
  readonly where?: string;
}

/** A put as the shared layer hands it to a driver: validated, encoded, its expiry computed. */
export interface PutOp {
  readonly type: 'put';
  readonly namespace: string;
  readonly id: string;
  /** Compare-and-set: undefined (any), 0 (create-only) or the live revision required. */
  readonly expectedRevision: number | undefined;
  /** The value's codec form. */
  readonly encoded: JsonValue;
  /** The stored form; undefined only for a driver that `keepsEncoded` when nothing is compressed/encrypted. */
  readonly packed: PackedPayload | undefined;
  /** Storage facts of the value (computed on first call when `packed` is undefined, then kept). */
  readonly storage: () => StorageInfo;
  /** Metadata's codec form. */
  readonly metadata: JsonValue | undefined;
  /** Expiry time (see kernel/ttl.ts), undefined without a TTL. */
  readonly expiresAt: number | undefined;
}

/** A delete as the shared layer hands it to a driver. */
export interface DeleteOp {
  readonly type: 'delete';
  readonly namespace: string;
  readonly id: string;
  /** Compare-and-set: undefined (any), 0 (only checks that nothing is there) or the live revision required. */
  readonly expectedRevision: number | undefined;
}

/** One operation of `StorageDriver.write`. */
export type WriteOp = PutOp | DeleteOp;

/** What one operation did: a put's new revision and creation time; a delete's deleted revision (0: none). */
export interface Written {
  readonly revision: number;
  readonly createdAt: number;
}

/** Items of one page in order; `last` is where the next page starts after, present when one may follow. */
export interface Page<T> {
  readonly items: T[];
  readonly last?: string;
}

/** What the shared layer gives a driver when it is made. */
export interface DriverContext {
  readonly codec: Codec;
  readonly settings: PayloadSettings;
  /** The store's clock in whole epoch milliseconds. */
  readonly now: () => number;
  /** The store's watchers: feeds (other processes, expiries) emit into it. */
  readonly hub: ChangeHub;
  /** Reports a failure of background work (a poll, a listener, a corrupt file found) to `onError`. */
  readonly reportError: (error: unknown, source: string, details?: Record<string, unknown>) => void;
  /** The handler given as `onError`, for helpers that take one. */
  readonly onError: BackgroundErrorHandler | undefined;
}

/**
 * The storage a driver implements. Revisions follow one rule everywhere: 1 on creation, +1 per write; an
 * expired row counts as absent; `expectedRevision` 0 means absent. A stale one makes `write` throw
 * `revisionConflict(...)` (shared/revisionConflict.ts) having changed nothing.
 */
export interface StorageDriver {
  /** Where documents are, for error messages: `SQLite table x`, `schema y`. */
  readonly where: string;
  /** Facts added to a corrupt-data error's details, such as the table. */
  readonly whereDetails?: Record<string, unknown>;
  /** The driver keeps a plain value's codec form: the shared layer skips serializing it (memory). */
  readonly keepsEncoded?: boolean;
  /** The driver's own feed delivers this store's writes to its watchers, so the shared layer emits none. */
  readonly feedsOwnWrites?: boolean;
  /** Extra checks of an id beyond the shared ones (the filesystem refuses path-like ids). */
  checkId?(namespace: string, id: string): void;
  /** The live row of a document, or undefined. */
  read(namespace: string, id: string, now: number): MaybePromise<StoredRow | undefined>;
  /** Live rows of at most GET_MANY_CHUNK ids of a namespace, any order, each with its `id`. */
  readMany?(namespace: string, ids: readonly string[], now: number): MaybePromise<StoredRow[]>;
  /**
   * Optional: sets a live document's expiry to `expiresAt` without writing anything else; false when it
   * is missing or expired at `now`. Without it, `touchExpiry` rewrites the document.
   */
  touch?(namespace: string, id: string, expiresAt: number, now: number): MaybePromise<boolean>;
  /** Applies the operations in one transaction, all or none; one `Written` per operation. */
  write(ops: readonly WriteOp[], now: number): MaybePromise<Written[]>;
  /** Live rows of a namespace in id order (UTF-16 code units) after `query.after` with `query.prefix`. */
  scan(namespace: string, query: ListQuery, now: number): MaybePromise<Page<StoredRow>>;
  /** Namespaces holding documents, in order, after `query.after`. */
  namespaces(query: NamespaceQuery): MaybePromise<Page<string>>;
  /** Removes expired rows, emits an `expire` event for each, returns how many; `background` from the timer. */
  sweep(now: number, background: boolean): MaybePromise<number>;
  /** Starts the feed of changes made elsewhere, before the first watcher subscribes. */
  startFeed?(): MaybePromise<void>;
  /** Stops that feed: nobody watches any more. */
  stopFeed?(): void;
  /** Turns a failure of a call into the error to throw (adds codes and details). */
  failure?(error: unknown, operation: string, details: Record<string, unknown>): unknown;
  /** Releases connections, files and timers. */
  close(): MaybePromise<void>;
}
