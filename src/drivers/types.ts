import type { Codec, Compression, EncryptionKeys } from '../codec/index.ts';
import type { BackgroundErrorHandler } from '../shared/backgroundErrors.ts';
import type { ChangeListener, Subscription, WatchOptions } from './changeTypes.ts';

// The change-feed types live in their own file; they are part of this interface file's exports.
export type { ChangeEvent, ChangeListener, Subscription, WatchOptions } from './changeTypes.ts';

/** A stored document: a codec-encoded value with its revision and timestamps. */
export interface StoredDocument<V = unknown> {
  /** Group of documents, such as `agents` or `sessions`. */
  readonly namespace: string;
  /** Id within the namespace. Data, never a path: drivers encode it safely. */
  readonly id: string;
  /**
   * The decoded value: a fresh copy per read from a driver; a store that hands one value to several
   * readers (`CachedStore`) deep-freezes it, so a frozen value must be copied before it is changed.
   */
  readonly value: V;
  /** 1 on creation, +1 on every write. A deleted and re-created document starts again at 1. */
  readonly revision: number;
  /** Creation time, epoch milliseconds. */
  readonly createdAt: number;
  /** Last write time, epoch milliseconds. */
  readonly updatedAt: number;
  /** Plain JSON metadata given on the last write, if any. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Expiry time in epoch milliseconds, if the document has a TTL. */
  readonly expiresAt?: number;
  /** How the value is stored: size, SHA-256 and compression (absent for documents written before). */
  readonly storage?: StorageInfo;
}

/** How a document's value is stored (the seed's `StateMetadata`). */
export interface StorageInfo {
  /** Bytes stored, after compression and encryption. */
  readonly sizeBytes: number;
  /** Bytes of the value's JSON text before compression. */
  readonly plainBytes: number;
  /** SHA-256 (hex) of exactly the stored bytes; verified on read with `verifyChecksums`. */
  readonly checksum: string;
  /** Compression of the stored bytes (`none` when the value was below `compressAboveBytes`). */
  readonly compression: Compression;
  /** Id of the encryption key, when the value is encrypted at rest. */
  readonly keyId?: string;
}

/** Options of `DocumentStore.put`. */
export interface PutOptions {
  /** Compare-and-set: the revision the caller last saw; `0` means create-only. Stale -> `RevisionConflictError`. */
  expectedRevision?: number;
  /** Time to live in milliseconds; the document is invisible after it and swept in the background. */
  ttlMs?: number;
  /** Plain JSON metadata stored beside the value. */
  metadata?: Record<string, unknown>;
}

/** Options of `DocumentStore.delete`. */
export interface DeleteOptions {
  /** Compare-and-set: delete only if the document is at this revision. */
  expectedRevision?: number;
}

/** Options of `DocumentStore.list`. */
export interface ListOptions {
  /** Only ids starting with this prefix. */
  prefix?: string;
  /** Page size: default 100, at most 1000. */
  limit?: number;
  /** Opaque cursor from the previous page's `cursor`. */
  cursor?: string;
}

/** One page of `list`, ordered by id (UTF-16 code unit order, as JavaScript compares strings). */
export interface ListPage<V = unknown> {
  /** The documents of this page. */
  items: StoredDocument<V>[];
  /** Pass to the next `list` call; undefined when there are no more pages. */
  cursor?: string;
}

/** Options of `DocumentStore.listNamespaces`. */
export interface NamespaceListOptions {
  /** Page size: default 100, at most 1000. */
  limit?: number;
  /** Opaque cursor from the previous page's `cursor`. */
  cursor?: string;
}

/**
 * One page of `listNamespaces`: namespaces holding at least one stored document, in UTF-16 code unit
 * order. A namespace whose documents have all expired is listed until the sweep removes them.
 */
export interface NamespacePage {
  /** The namespaces of this page. */
  namespaces: string[];
  /** Pass to the next call; undefined when there are no more pages. */
  cursor?: string;
}

/** One operation of an atomic batch. */
export type BatchOperation =
  | { type: 'put'; namespace: string; id: string; value: unknown; options?: PutOptions }
  | { type: 'delete'; namespace: string; id: string; options?: DeleteOptions };

/** What each batch operation did, in order: the new revision, or null for a delete. */
export interface BatchResult {
  /** Per-operation outcome in the order given. */
  results: Array<{ namespace: string; id: string; revision: number | null; deleted?: boolean }>;
}

/** Options every driver accepts. */
export interface DriverOptions {
  /** Codec for values (default: the package's default codec, with its registered classes). */
  codec?: Codec;
  /** Clock in epoch ms (default `Date.now`); inject one in tests to drive TTLs. */
  now?: () => number;
  /** How often expired documents are swept, ms (default 30 000); the timer never keeps the process alive. */
  sweepIntervalMs?: number;
  /** Compress stored values (default `none`); read back transparently whatever was written. */
  compression?: Compression;
  /** Only values whose JSON text has at least this many bytes are compressed (default 1024). */
  compressAboveBytes?: number;
  /** Check every value read against its SHA-256 (default false); a mismatch is `CORRUPT_STATE`. */
  verifyChecksums?: boolean;
  /**
   * Most bytes a stored compressed value may decompress to (default 256 MiB); a larger one is
   * `CORRUPT_STATE` naming the document, so a decompression bomb cannot exhaust memory.
   */
  maxDecompressedBytes?: number;
  /** Encrypt values at rest with AES-256-GCM (see `EncryptionKeys`; keys never come from config text). */
  encryption?: EncryptionKeys;
  /**
   * Receives failures of the store's background work: the sweep timer, change-feed polls and listener
   * reconnects, watch listeners that throw, corrupt files found (default: a process warning).
   */
  onError?: BackgroundErrorHandler;
}

/**
 * The one storage interface every document-storing component uses. Each driver passes the shared
 * conformance suite in tests/conformance/.
 */
export interface DocumentStore {
  /** Driver name: `memory`, `fs`, `sqlite`, `postgres`. */
  readonly name: string;
  /** Reads a document; undefined when missing or expired. */
  get<V = unknown>(namespace: string, id: string): Promise<StoredDocument<V> | undefined>;
  /** Writes a document (compare-and-set with `expectedRevision`); returns what was stored. */
  put<V = unknown>(namespace: string, id: string, value: V, options?: PutOptions): Promise<StoredDocument<V>>;
  /**
   * Optional: reads several documents of one namespace at once (one statement where the driver can),
   * in the order of `ids`, undefined for each missing one. Call it through `getMany` (shared/getMany.ts),
   * which falls back to one `get` per id for drivers without it.
   */
  getMany?<V = unknown>(
    namespace: string,
    ids: readonly string[],
  ): Promise<Array<StoredDocument<V> | undefined>>;
  /**
   * Optional: restarts a live document's time to live (expires `ttlMs` from now) without writing its
   * value, revision or update time; false when it is missing or expired. Call it through `touchExpiry`
   * (shared/touchExpiry.ts), which rewrites the document on drivers without it.
   */
  touch?(namespace: string, id: string, ttlMs: number): Promise<boolean>;
  /** Deletes a document; false when it did not exist. A stale `expectedRevision` throws. */
  delete(namespace: string, id: string, options?: DeleteOptions): Promise<boolean>;
  /** Lists a namespace in id order, one page at a time. */
  list<V = unknown>(namespace: string, options?: ListOptions): Promise<ListPage<V>>;
  /** Lists the namespaces that hold documents, in order, one page at a time. */
  listNamespaces(options?: NamespaceListOptions): Promise<NamespacePage>;
  /** Applies puts and deletes atomically: all of them or, on any error, none. */
  batch(operations: BatchOperation[]): Promise<BatchResult>;
  /** Subscribes to changes of a namespace (`*` for all). Resolves once delivery is set up. */
  watch(namespace: string, listener: ChangeListener, options?: WatchOptions): Promise<Subscription>;
  /** Removes expired documents now; returns how many. The background sweep calls this. */
  sweepExpired(): Promise<number>;
  /** Stops timers and releases connections and files. Further calls throw `ClosedError`. */
  close(): Promise<void>;
}
