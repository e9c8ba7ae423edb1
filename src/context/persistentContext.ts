import { type BigIntStats, closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Codec, type Compression, codec as defaultCodec, setOwn } from '../codec/index.ts';
import { ClosedError, type CorruptStateError, InvalidInputError } from '../errors.ts';
import { quarantineFile, writeFileAtomic } from '../shared/atomicWrite.ts';
import { reportBackgroundError } from '../shared/backgroundErrors.ts';
import { acquireFileLock, type FileLock, type FileLockOptions } from '../shared/fileLock.ts';
import { settled } from '../shared/settled.ts';
import { rotateBackups } from './backups.ts';
import { decodeEntry, encodeEntry } from './entry.ts';
import {
  checksumInHead,
  checksumOf,
  type Entries,
  emptyEntries,
  type FileState,
  HEAD_BYTES,
  isQuarantinable,
  parseFile,
  renderFile,
} from './fileFormat.ts';
import { type AutosaveOptions, checkOptions, type PersistentContextOptions } from './options.ts';
import { removeOrphanTemps } from './orphans.ts';

/** A file as read: its state plus the identity (inode, size, times) it had. */
type ReadState = FileState & { identity: string | undefined };

/** Options of `reload()`. */
export interface ReloadOptions {
  /** Drop unsaved changes instead of keeping them on top of the file's state (default false). */
  discardChanges?: boolean;
}

/**
 * A task's small persistent key-value file (Aura's `PersistentContext`), that never loses data.
 *
 * - Values go through the codec, so Dates, Maps, BigInts and registered classes survive; the file is
 *   readable JSON (one key per line, in an envelope with a format version and a SHA-256 checksum).
 * - `set` stores a snapshot of the value (later mutation of the object does not leak in) and rejects
 *   what the codec cannot store right there, naming key and path. `get` and `getAll` return copies.
 * - `save()` is atomic and durable (temp file, fsync, rename, directory fsync), under a cross-process
 *   lock, and merges: it re-reads the file and applies only the keys this context set or deleted since it
 *   last synced. Two processes editing different keys both keep their changes; for the same key, the
 *   later save wins. Saves of one context are serialised in call order.
 * - Unlike the seed, a corrupt file is never replaced by an empty context (which the next save would
 *   write over the data): it is reported with its path, or moved aside with `onCorrupt: 'quarantine'`.
 */
export class PersistentContext<T extends Record<string, unknown> = Record<string, unknown>> {
  /** Absolute path of the context file (a symbolic link given to `create` is resolved to its target). */
  readonly path: string;
  readonly #codec: Codec;
  readonly #compression: Compression;
  readonly #options: PersistentContextOptions;
  readonly #lockOptions: FileLockOptions;
  readonly #autosave: AutosaveOptions | undefined;
  #entries: Entries = emptyEntries();
  /** Keys set or deleted since the last sync with the file: what a save applies over the file. */
  #changed = new Set<string>();
  /** Checksum of the file as this context last read or wrote it; undefined when there was no file. */
  #syncedChecksum: string | undefined;
  /** Inode, size and mtime of that file: with the checksum in its head, proves it was not replaced. */
  #syncedIdentity: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #closed = false;
  #quarantinedPath: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pendingSince: number | undefined;
  /** Temp files of killed writers are removed once per context, at its first save (under the lock). */
  #orphansRemoved = false;

  private constructor(path: string, options: PersistentContextOptions) {
    this.path = path;
    this.#options = options;
    this.#codec = options.codec ?? defaultCodec;
    this.#compression = options.compression ?? 'none';
    this.#lockOptions = { ...(options.onError && { onError: options.onError }), ...options.lock };
    this.#autosave = options.autosave;
  }

  /**
   * Opens the context stored at `path`; a missing file is an empty context. A corrupt file throws
   * `CorruptStateError` with the path, unless `onCorrupt: 'quarantine'`.
   */
  static async create<T extends Record<string, unknown> = Record<string, unknown>>(
    path: string,
    options: PersistentContextOptions = {},
  ): Promise<PersistentContext<T>> {
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidInputError('PersistentContext.create needs a file path', { path });
    }
    checkOptions(options);
    const context = new PersistentContext<T>(await contextFilePath(path), options);
    await mkdir(dirname(context.path), { recursive: true });
    const state = await context.#readRecovering(false);
    if (state) {
      context.#entries = state.entries;
      context.#syncedChecksum = state.checksum;
      context.#syncedIdentity = state.identity;
    }
    return context;
  }

  /** Whether there are changes not yet saved. */
  get dirty(): boolean {
    return this.#changed.size > 0;
  }

  /** Number of keys. */
  get size(): number {
    return Object.keys(this.#entries).length;
  }

  /** Where the last corrupt file was moved by `onCorrupt: 'quarantine'`, if that happened. */
  get quarantinedPath(): string | undefined {
    return this.#quarantinedPath;
  }

  /** Whether `close()` has completed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A fresh copy of the value of `key` (mutating it does not change the context), or `fallback`. */
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  get<K extends keyof T & string>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T & string>(key: K, fallback?: T[K]): T[K] | undefined {
    this.#assertOpen();
    checkKey(key);
    const entry = this.#entries[key];
    return entry === undefined ? fallback : (decodeEntry(this.#codec, key, entry) as T[K]);
  }

  /**
   * Stores a snapshot of `value` under `key`. A value the codec cannot store (function, symbol, cycle,
   * unregistered class) throws `UnsupportedValueError` naming the path (`$.key.sub[2]`); nothing changes.
   */
  set<K extends keyof T & string>(key: K, value: T[K]): this {
    this.#assertWritable();
    checkKey(key);
    this.#entries[key] = encodeEntry(this.#codec, key, value);
    this.#changed.add(key);
    this.#scheduleAutosave();
    return this;
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: keyof T & string): boolean {
    this.#assertWritable();
    checkKey(key);
    if (!(key in this.#entries)) return false;
    delete this.#entries[key];
    this.#changed.add(key);
    this.#scheduleAutosave();
    return true;
  }

  /** Removes every key. */
  clear(): void {
    this.#assertWritable();
    for (const key of Object.keys(this.#entries)) {
      delete this.#entries[key];
      this.#changed.add(key);
    }
    this.#scheduleAutosave();
  }

  /** Whether `key` is set. */
  has(key: string): boolean {
    this.#assertOpen();
    return typeof key === 'string' && key in this.#entries;
  }

  /** The keys, in file order. */
  keys(): (keyof T & string)[] {
    this.#assertOpen();
    return Object.keys(this.#entries) as (keyof T & string)[];
  }

  /** A deep copy of all data: mutating it never changes the context. */
  getAll(): Partial<T> {
    this.#assertOpen();
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(this.#entries)) {
      // setOwn, not assignment: a `__proto__` key must stay a key, not become the prototype.
      setOwn(out, key, decodeEntry(this.#codec, key, this.#entries[key]!));
    }
    return out as Partial<T>;
  }

  /**
   * Writes the context atomically and durably, merged over the file as it is now: other processes'
   * changes to keys this context did not touch are kept (and appear in this context afterwards).
   * Creates the file if it does not exist yet; otherwise does nothing when there are no changes.
   */
  save(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#cancelAutosave();
    return this.#serial(() => this.#saveNow(true));
  }

  /**
   * Re-reads the file, picking up other processes' saves. Unsaved changes of this context are kept on top
   * (and stay unsaved) unless `discardChanges`. If the file is gone, the data in memory is kept and marked
   * unsaved, so a deleted file is never a reason to lose data.
   */
  reload(options: ReloadOptions = {}): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#serial(async () => {
      if (!options.discardChanges && this.#unchangedOnDisk()) return;
      const state = await this.#readRecovering(false);
      if (options.discardChanges) {
        this.#changed = new Set();
        this.#entries = state ? state.entries : emptyEntries();
      } else if (state) {
        this.#entries = applyChanges(state.entries, this.#entries, this.#changed);
      } else {
        this.#markAllUnsaved();
      }
      this.#syncedChecksum = state?.checksum;
      this.#syncedIdentity = state?.identity;
    });
  }

  /** Saves pending changes and closes; later calls fail with `ClosedError`. If the save fails, stays open. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closing ??= (async () => {
      this.#cancelAutosave();
      try {
        await this.#serial(() => (this.dirty ? this.#saveNow(false) : Promise.resolve()));
        this.#closed = true;
      } finally {
        this.#closing = undefined;
      }
    })();
    return this.#closing;
  }

  /** `await using ctx = await PersistentContext.create(...)` closes (and saves) at scope end. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #saveNow(explicit: boolean): Promise<void> {
    if (!this.dirty && !(explicit && this.#syncedChecksum === undefined)) return;
    const lock = await this.#lock();
    try {
      const current = await this.#fileNow();
      // The bytes are rendered from this instant's state; changes made while they are written land in
      // the fresh #changed set and stay dirty for the next save.
      const changed = this.#changed;
      this.#changed = new Set();
      try {
        if (current !== 'unchanged' && current !== null) {
          this.#entries = applyChanges(current.entries, this.#entries, changed);
        }
        const checksum = checksumOf(this.#entries);
        const bytes = await renderFile(this.#entries, checksum, this.#compression, this.path);
        if ((this.#options.backups ?? 0) > 0 && current !== null) {
          await rotateBackups(this.path, this.#options.backups!);
        }
        await writeFileAtomic(this.path, bytes, { mode: permissionsOf(this.path) });
        this.#syncedChecksum = checksum;
        this.#syncedIdentity = fileIdentity(this.path);
      } catch (error) {
        for (const key of changed) this.#changed.add(key);
        throw error;
      }
      if (!this.#orphansRemoved) {
        this.#orphansRemoved = true;
        await removeOrphanTemps(this.path);
      }
    } finally {
      await lock.release();
    }
  }

  /**
   * The file as it is now (under the lock): 'unchanged' if it is still what this context last synced,
   * null if it does not exist (or was quarantined), else its state. The checksum in the first bytes
   * usually answers without reading the whole file.
   */
  async #fileNow(): Promise<ReadState | 'unchanged' | null> {
    if (this.#unchangedOnDisk()) return 'unchanged';
    const state = await this.#readRecovering(true);
    if (state !== null && state.checksum === this.#syncedChecksum) return 'unchanged';
    return state;
  }

  /**
   * Whether the file is provably still the one this context last synced: same checksum in its head and
   * same inode, size and mtime. Another writer always changes the inode (it renames a new file in); a
   * hand edit in place changes the size or mtime, so it is read and checked instead of silently
   * overwritten. (An in-place edit of the same size within one filesystem timestamp tick, a few ms,
   * would go unseen; edits made while a process has the context open belong in that process.)
   */
  #unchangedOnDisk(): boolean {
    if (this.#syncedChecksum === undefined) return false;
    const head = readHead(this.path);
    return (
      head !== null &&
      checksumInHead(head.bytes) === this.#syncedChecksum &&
      head.identity === this.#syncedIdentity
    );
  }

  async #readState(): Promise<ReadState | null> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'EISDIR') {
        throw new InvalidInputError(`context path ${this.path} is a directory; give a file path`, {
          path: this.path,
        });
      }
      throw error;
    }
    // Taken after the read: if the file is replaced in between, the identity will not match the
    // replacement's head, so the next save reads the file again rather than trusting stale facts.
    const identity = fileIdentity(this.path);
    return { ...(await parseFile(bytes, this.path, this.#codec)), identity };
  }

  /** Reads the file; with `onCorrupt: 'quarantine'` a corrupt one is moved aside (under the lock) and null returned. */
  async #readRecovering(lockHeld: boolean): Promise<ReadState | null> {
    try {
      return await this.#readState();
    } catch (error) {
      if (this.#options.onCorrupt !== 'quarantine' || !isQuarantinable(error)) throw error;
      if (lockHeld) return this.#quarantine(error);
    }
    const lock = await this.#lock();
    try {
      // Read again under the lock: another process may have replaced the bad file with a good one.
      try {
        return await this.#readState();
      } catch (error) {
        if (!isQuarantinable(error)) throw error;
        return await this.#quarantine(error);
      }
    } finally {
      await lock.release();
    }
  }

  async #quarantine(error: CorruptStateError): Promise<null> {
    const quarantinedPath = await quarantineFile(this.path);
    this.#quarantinedPath = quarantinedPath;
    this.#markAllUnsaved();
    const event = { path: this.path, quarantinedPath, error };
    if (this.#options.onQuarantine) this.#options.onQuarantine(event);
    else {
      reportBackgroundError(this.#options.onError, error, {
        source: 'PersistentContext quarantine',
        details: { path: this.path, quarantinedPath },
      });
    }
    return null;
  }

  /**
   * Marks every key held here as changed, after the file vanished or was quarantined: none of them is on
   * disk any more, so each must be applied over whatever file the next save or reload finds (another
   * process may have created a new one meanwhile), not only the keys changed since the last sync.
   */
  #markAllUnsaved(): void {
    for (const key of Object.keys(this.#entries)) this.#changed.add(key);
  }

  #lock(): Promise<FileLock> {
    return acquireFileLock(`${this.path}.lock`, this.#lockOptions);
  }

  /** Runs `task` after every earlier save/reload/close of this context has finished. */
  #serial<R>(task: () => Promise<R>): Promise<R> {
    const run = this.#queue.then(task, task);
    // The task's failure goes to the caller of `run`; the next task runs either way.
    this.#queue = settled(run);
    return run;
  }

  #scheduleAutosave(): void {
    const autosave = this.#autosave;
    if (!autosave) return;
    const now = Date.now();
    this.#pendingSince ??= now;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const delayMs =
      autosave.maxWaitMs === undefined
        ? autosave.debounceMs
        : Math.max(0, Math.min(autosave.debounceMs, this.#pendingSince + autosave.maxWaitMs - now));
    // Not unref'd on purpose: a process that ends right after a change still writes it first.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pendingSince = undefined;
      this.#serial(() => this.#saveNow(false)).catch((error: unknown) => {
        if (this.#options.onAutosaveError) this.#options.onAutosaveError(error);
        else
          reportBackgroundError(this.#options.onError, error, {
            source: 'PersistentContext autosave',
            details: { path: this.path },
          });
      });
    }, delayMs);
  }

  #cancelAutosave(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pendingSince = undefined;
  }

  #assertOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  /** Changes are refused from the moment `close()` is called: its final save could miss them. */
  #assertWritable(): void {
    if (this.#closed || this.#closing !== undefined) throw this.#closedError();
  }

  #closedError(): ClosedError {
    return new ClosedError(`the context ${this.path} is closed`, { path: this.path });
  }
}

/**
 * The absolute path of the file to read and replace. A symbolic link is followed to its target once, at
 * open: a save renames a new file into place, which would replace the link itself and leave its target
 * stale, and a lock next to the link would not exclude writers that open the target by its own path.
 */
async function contextFilePath(path: string): Promise<string> {
  const absolute = resolve(path);
  const stats = await lstat(absolute).catch(() => undefined);
  if (!stats?.isSymbolicLink()) return absolute;
  // A dangling link names the file to create.
  return realpath(absolute).catch(async () => resolve(dirname(absolute), await readlink(absolute)));
}

/** `theirs` with this context's changed keys applied: set ones take our entry, deleted ones are removed. */
function applyChanges(theirs: Entries, ours: Entries, changed: ReadonlySet<string>): Entries {
  for (const key of changed) {
    const entry = ours[key];
    if (entry === undefined) delete theirs[key];
    else theirs[key] = entry;
  }
  return theirs;
}

/**
 * The first bytes of the file and its identity, or null if it does not exist. Synchronous on purpose:
 * four syscalls on a cached page take microseconds, while thread-pool round trips would add ~0.1 ms to
 * every save.
 */
function readHead(path: string): { bytes: Buffer; identity: string } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const bytes = buffer.subarray(0, readSync(fd, buffer, 0, HEAD_BYTES, 0));
    return { bytes, identity: identityOf(fstatSync(fd, { bigint: true })) };
  } finally {
    closeSync(fd);
  }
}

/** Inode, size and mtime (ns) of the file, or undefined if it does not exist. */
function fileIdentity(path: string): string | undefined {
  const stats = statSync(path, { bigint: true, throwIfNoEntry: false });
  return stats && identityOf(stats);
}

/**
 * The permission bits of the file, or undefined if it does not exist. The new file is created with them,
 * so a save never widens access to a file its owner restricted (say 0600 for one holding credentials);
 * the umask can only narrow them further.
 */
function permissionsOf(path: string): number | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats && stats.mode & 0o777;
}

function identityOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') {
    throw new InvalidInputError(`context keys are strings, got ${typeof key}`, { key: String(key) });
  }
}
