import { type Codec, codec as defaultCodec, type JsonValue, setOwn } from '../codec/index.ts';
import { AlreadyExistsError, InvalidInputError, NotFoundError, RevisionConflictError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { MutationBatch } from './batch.ts';
import { isInstalled, unknownKey } from './errors.ts';
import { deepFreeze, frozenConcat, isImmutable } from './freeze.ts';
import type { AnyStateKey, StateKey } from './key.ts';
import { checkPersistedState, type PersistedState, type RestoreReport } from './persisted.ts';
import { Snapshot } from './snapshot.ts';
import { applyUpdate, initialValue, restoredValue } from './values.ts';

/** What a commit listener receives. */
export interface CommitEvent {
  /** Revision before the change. */
  previousRevision: number;
  /** Revision after it. */
  newRevision: number;
  /** Ops applied (a commit's batch size; keys reset by `startRun`; values set by `restore`). */
  opCount: number;
  /** The state after the change. */
  snapshot: Snapshot;
  /** What changed the state. */
  cause: 'commit' | 'startRun' | 'restore';
}

/** Receives commit events, synchronously, after the change is in place. */
export type CommitListener = (event: CommitEvent) => void;

/** Options of `new StateStore`. */
export interface StateStoreOptions {
  /** Keys installed from the start, owned by the plugin name `core`. */
  keys?: readonly AnyStateKey[];
  /** Codec for `exportPersisted`/`restore` (default: the package's default codec and its registered classes). */
  codec?: Codec;
  /**
   * Deep-freeze values as they enter the store (default true). Freezing is what lets snapshots share
   * values instead of copying them; turn it off only when every `apply` is known to return new objects.
   */
  freezeValues?: boolean;
  /**
   * Receives an error thrown by a commit listener, with the new revision in its details (default: a
   * process warning); the change itself stands.
   */
  onError?: BackgroundErrorHandler;
  /** @deprecated Use `onError`; when both are given, this one gets the listener errors, with the event. */
  onListenerError?: (error: unknown, event: CommitEvent) => void;
}

/** What `uninstall` did. */
export interface UninstallReport {
  /** Keys removed with their values. */
  removed: string[];
  /** Keys kept with their values because of `retainOnUninstall`. */
  retained: string[];
}

interface KeptAside {
  value: JsonValue;
  version: number;
}

const CORE_PLUGIN = 'core';

/**
 * Typed, revisioned agent state (Awaken's state store; distinct from `TtlStore`). Values change only by
 * committing a `MutationBatch`; every non-empty commit moves the revision up by one, and a batch started
 * from an older revision is refused, so no update is applied on top of state its author never saw.
 *
 * Speed: the value map is copy-on-write. Until someone takes a snapshot, commits write it in place; after
 * `snapshot()` the next commit copies it once (O(keys)) and later commits write in place again. Snapshots
 * therefore cost O(1) and commits O(ops) plus at most one map copy per snapshot taken.
 */
export class StateStore {
  #keys = new Map<string, AnyStateKey>();
  // Plugin owning each key; undefined for a retained key whose plugin was uninstalled.
  readonly #owners = new Map<string, string | undefined>();
  #values = new Map<string, unknown>();
  // True while a snapshot references #values (or #keys): the next write must copy first.
  #shared = false;
  #snapshot: Snapshot | undefined;
  #revision = 0;
  // Bumped by restore(): a batch from before a restore is refused even if the restored revision equals its base.
  #epoch = 0;
  readonly #listeners = new Set<CommitListener>();
  #keptAside = new Map<string, KeptAside>();
  // Encoded form of each persistent key's value as last exported. Values are replaced, never changed in
  // place, so an entry whose value is the current one (and immutable) is still exact: an export after a
  // 10-op commit encodes 10 values, not all of them.
  readonly #encoded = new Map<string, { value: unknown; json: JsonValue }>();
  readonly #codec: Codec;
  readonly #freeze: boolean;
  readonly #onError: BackgroundErrorHandler | undefined;
  readonly #onListenerError: ((error: unknown, event: CommitEvent) => void) | undefined;
  readonly #checkKey = (key: AnyStateKey): void => {
    if (!isInstalled(this.#keys, key)) throw unknownKey(key, this.#keys);
  };

  /** A store at revision 0 with `options.keys` installed (plugin `core`) at their initial values. */
  constructor(options: StateStoreOptions = {}) {
    this.#codec = options.codec ?? defaultCodec;
    this.#freeze = options.freezeValues ?? true;
    this.#onError = options.onError;
    this.#onListenerError = options.onListenerError;
    if (options.keys && options.keys.length > 0) this.install(CORE_PLUGIN, options.keys);
  }

  /** Current revision: 0 for a new store, +1 per non-empty commit and per `startRun`. */
  get revision(): number {
    return this.#revision;
  }

  /** The current value of `key`. Throws `UnknownKeyError` when the key is not installed. */
  get<V, U>(key: StateKey<V, U>): V {
    if (!isInstalled(this.#keys, key)) throw unknownKey(key, this.#keys);
    return this.#values.get(key.key) as V;
  }

  /** Whether this exact key object is installed. */
  has<V, U>(key: StateKey<V, U>): boolean {
    return isInstalled(this.#keys, key);
  }

  /** Names of the installed keys. */
  keys(): string[] {
    return [...this.#keys.keys()];
  }

  /** Installed plugins and the keys each owns. */
  plugins(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [key, plugin] of this.#owners) {
      if (plugin === undefined) continue;
      if (!Object.hasOwn(out, plugin)) setOwn(out, plugin, []);
      out[plugin]!.push(key);
    }
    return out;
  }

  /** An immutable view of the current state; O(1), and the same object until the next change. */
  snapshot(): Snapshot {
    if (this.#snapshot === undefined) {
      this.#snapshot = new Snapshot(this.#revision, this.#values, this.#keys);
      this.#shared = true;
    }
    return this.#snapshot;
  }

  /** Starts a batch stamped with the current revision. */
  batch(): MutationBatch {
    return new MutationBatch(this.#revision, { checkKey: this.#checkKey, epoch: this.#epoch, origin: this });
  }

  /**
   * Applies the batch's ops in order, all or nothing, and moves the revision up by one; returns the new
   * revision. An empty batch changes nothing and returns the current revision. A batch from an older
   * revision (or from before a `restore`) throws `RevisionConflictError`; an op on a key that is not
   * installed throws `UnknownKeyError`; an `apply` that throws or a schema refusal throws
   * `INVALID_INPUT` naming the key. On any error the store is unchanged.
   */
  commit(batch: MutationBatch): number {
    if (!(batch instanceof MutationBatch)) {
      throw new InvalidInputError('commit needs a MutationBatch from store.batch()', {});
    }
    const ops = batch.ops;
    if (ops.length === 0) return this.#revision;
    // Two stores can stand at the same revision (every new store is at 0), so the revision check alone
    // would let a batch of one thread's store be applied to another's.
    if (batch.origin !== undefined && batch.origin !== this) {
      throw new InvalidInputError(
        'the batch was started on another StateStore; start it from this store with store.batch()',
        { baseRevision: batch.baseRevision, keys: [...batch.touchedKeys()] },
      );
    }
    if (batch.baseRevision !== this.#revision || batch.epoch !== this.#epoch) {
      throw new RevisionConflictError(
        batch.epoch !== this.#epoch
          ? `the batch was started before the store was restored; start a new batch from store.batch()`
          : `the batch was started at revision ${batch.baseRevision} but the store is at ${this.#revision}; start a new batch from a fresh snapshot`,
        { expectedRevision: batch.baseRevision, actualRevision: this.#revision },
      );
    }
    const keys = this.#keys;
    const values = this.#values;
    // Results go to a staging map first, so a failing op leaves the store untouched.
    const staged = new Map<string, unknown>();
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (!isInstalled(keys, op.key)) throw unknownKey(op.key, keys);
      const name = op.key.key;
      const def = op.key;
      const current = staged.has(name) ? staged.get(name) : values.get(name);
      staged.set(name, applyUpdate(def, current, op.update, this.#freeze, i));
    }
    const target = this.#writableValues();
    for (const [name, value] of staged) target.set(name, value);
    return this.#advance(this.#revision + 1, ops.length, 'commit');
  }

  /** Shorthand for a one-op batch: `commit(batch().update(key, update))`. */
  update<V, U>(key: StateKey<V, U>, update: NoInfer<U>): number {
    return this.commit(this.batch().update(key, update));
  }

  /** Registers a commit listener; returns a function that removes it. */
  onCommit(listener: CommitListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Starts a new run: every `run`-scoped key goes back to its initial value, `thread`-scoped keys keep
   * theirs. Counts as one change (revision +1) when there are run-scoped keys; returns the revision.
   */
  startRun(): number {
    const staged = new Map<string, unknown>();
    for (const [name, def] of this.#keys) {
      if (def.scope === 'run') staged.set(name, initialValue(def, this.#freeze));
    }
    if (staged.size === 0) return this.#revision;
    const target = this.#writableValues();
    for (const [name, value] of staged) target.set(name, value);
    return this.#advance(this.#revision + 1, staged.size, 'startRun');
  }

  /**
   * Installs keys owned by `plugin`, at their initial values. A name already installed is
   * `ALREADY_EXISTS`, except the same key object retained from an earlier uninstall, which is adopted with
   * its value. A key whose value was kept aside by `restore` (unknown then) gets that value now. All or
   * nothing; the revision does not change (keys are added, no value a batch could have read changes).
   */
  install(plugin: string, keys: readonly AnyStateKey[]): void {
    checkPluginName(plugin);
    if (!Array.isArray(keys)) throw new InvalidInputError('install needs an array of state keys', { plugin });
    const staged = new Map<string, unknown>();
    const adopted: string[] = [];
    for (const def of keys) {
      if (
        typeof def?.key !== 'string' ||
        typeof def.apply !== 'function' ||
        typeof def.initial !== 'function'
      ) {
        throw new InvalidInputError(`install('${plugin}'): every key must come from defineStateKey`, {
          plugin,
        });
      }
      const name = def.key;
      if (staged.has(name) || adopted.includes(name)) {
        throw new InvalidInputError(`install('${plugin}'): state key '${name}' is listed twice`, {
          plugin,
          key: name,
        });
      }
      const existing = this.#keys.get(name);
      if (existing !== undefined) {
        if (existing === def && this.#owners.get(name) === undefined) {
          adopted.push(name);
          continue;
        }
        const owner = this.#owners.get(name);
        throw new AlreadyExistsError(
          `state key '${name}' is already installed${owner === undefined ? ' (retained from an uninstalled plugin, as another key object)' : ` by plugin '${owner}'`}`,
          { plugin, key: name, owner },
        );
      }
      const kept = this.#keptAside.get(name);
      staged.set(
        name,
        kept
          ? restoredValue(def, kept.value, kept.version, this.#codec, this.#freeze)
          : initialValue(def, this.#freeze),
      );
    }
    const nextKeys = new Map(this.#keys);
    for (const def of keys) nextKeys.set(def.key, def);
    const target = this.#writableValues();
    for (const [name, value] of staged) target.set(name, value);
    this.#keys = nextKeys;
    for (const def of keys) this.#owners.set(def.key, plugin);
    for (const name of staged.keys()) this.#keptAside.delete(name);
    this.#snapshot = undefined;
  }

  /**
   * Uninstalls the keys of `plugin`: each is removed with its value, except keys with `retainOnUninstall`,
   * which stay readable, persisted and committable with no owner until the same key object is installed
   * again. Throws `NOT_FOUND` for a plugin that owns no key. The revision does not change.
   */
  uninstall(plugin: string): UninstallReport {
    checkPluginName(plugin);
    const report: UninstallReport = { removed: [], retained: [] };
    for (const [name, owner] of this.#owners) {
      if (owner !== plugin) continue;
      if (this.#keys.get(name)!.retainOnUninstall) report.retained.push(name);
      else report.removed.push(name);
    }
    if (report.removed.length === 0 && report.retained.length === 0) {
      throw new NotFoundError(`no installed plugin is named '${plugin}'`, {
        plugin,
        plugins: Object.keys(this.plugins()),
      });
    }
    for (const name of report.retained) this.#owners.set(name, undefined);
    if (report.removed.length > 0) {
      const nextKeys = new Map(this.#keys);
      const target = this.#writableValues();
      for (const name of report.removed) {
        nextKeys.delete(name);
        target.delete(name);
        this.#encoded.delete(name);
        this.#owners.delete(name);
      }
      this.#keys = nextKeys;
      this.#snapshot = undefined;
    }
    return report;
  }

  /**
   * The persisted form: revision, the codec-encoded values of `persistent` keys, and, unchanged, any
   * values kept aside by `restore` for keys this store does not know, so saving never drops them.
   * Encoded values of unchanged keys are reused from the previous export (they are frozen, since the
   * same objects may appear in several exports): copy one before editing it.
   */
  exportPersisted(): PersistedState {
    const extensions: Record<string, JsonValue> = {};
    const versions: Record<string, number> = {};
    for (const [name, kept] of this.#keptAside) {
      setOwn(extensions, name, kept.value);
      if (kept.version !== 1) setOwn(versions, name, kept.version);
    }
    for (const [name, def] of this.#keys) {
      if (!def.persistent) continue;
      setOwn(extensions, name, this.#encode(name, this.#values.get(name)));
      if (def.version !== 1) setOwn(versions, name, def.version);
    }
    const persisted: PersistedState = { revision: this.#revision, extensions };
    if (Object.keys(versions).length > 0) persisted.versions = versions;
    return persisted;
  }

  /**
   * Replaces the persistent state with `persisted`, all or nothing: every value is decoded, migrated from
   * its persisted version and validated before anything changes, and the first failure throws
   * `CORRUPT_STATE` naming the key with the store unchanged. Persistent keys absent from the data go back
   * to their initial value; non-persistent keys keep theirs. Keys the store does not know are kept aside
   * and reported (never dropped): `exportPersisted` writes them back and `install` adopts them. The
   * store's revision becomes the persisted one, and batches started before the restore are refused.
   */
  restore(persisted: PersistedState): RestoreReport {
    checkPersistedState(persisted);
    const versions = persisted.versions ?? {};
    const staged = new Map<string, unknown>();
    const keptAside = new Map<string, KeptAside>();
    const report: RestoreReport = { revision: persisted.revision, restored: [], reset: [], unknownKeys: [] };
    for (const name of Object.keys(persisted.extensions)) {
      const encoded = persisted.extensions[name]!;
      const version = Object.hasOwn(versions, name) ? versions[name]! : 1;
      const def = this.#keys.get(name);
      if (def === undefined) {
        keptAside.set(name, { value: deepFreezeJson(structuredClone(encoded)), version });
        report.unknownKeys.push(name);
        continue;
      }
      staged.set(name, restoredValue(def, encoded, version, this.#codec, this.#freeze));
      report.restored.push(name);
    }
    for (const [name, def] of this.#keys) {
      if (!def.persistent || staged.has(name)) continue;
      staged.set(name, initialValue(def, this.#freeze));
      report.reset.push(name);
    }
    const target = this.#writableValues();
    for (const [name, value] of staged) target.set(name, value);
    this.#keptAside = keptAside;
    this.#epoch++;
    this.#advance(persisted.revision, staged.size, 'restore');
    return report;
  }

  /** Values kept aside by the last `restore` for keys this store does not know, by name (encoded form). */
  keptAside(): Record<string, { value: JsonValue; version: number }> {
    const out: Record<string, { value: JsonValue; version: number }> = {};
    for (const [name, kept] of this.#keptAside)
      setOwn(out, name, { value: structuredClone(kept.value), version: kept.version });
    return out;
  }

  #encode(name: string, value: unknown): JsonValue {
    const cached = this.#encoded.get(name);
    if (cached !== undefined && cached.value === value) return cached.json;
    const path = `$.extensions[${JSON.stringify(name)}]`;
    const grown = cached === undefined ? undefined : this.#encodeGrown(cached, value, path);
    if (grown !== undefined) {
      this.#encoded.set(name, { value, json: grown });
      return grown;
    }
    const json = this.#codec.encode(value, path);
    // Only values nothing can change in place are cached (see deepFreeze: Date, Map, Set and typed arrays
    // are re-encoded every time, and so is everything in a store made with freezeValues: false). The
    // cached JSON is frozen because exports hand it out.
    if (this.#freeze && isImmutable(value)) this.#encoded.set(name, { value, json: deepFreezeJson(json) });
    else this.#encoded.delete(name);
    return json;
  }
  // A list that is the cached one with items appended (the same item objects first, as `appendList`
  // builds it): only the new items are encoded, and the cached items' JSON objects are reused, so an
  // export costs O(new items) and a delta save recognises the saved prefix by identity.
  #encodeGrown(
    cached: { value: unknown; json: JsonValue },
    value: unknown,
    path: string,
  ): JsonValue | undefined {
    const before = cached.value;
    if (!Array.isArray(before) || !Array.isArray(value) || !Array.isArray(cached.json)) return undefined;
    if (value.length <= before.length || !isImmutable(value)) return undefined;
    for (let i = 0; i < before.length; i += 1) if (before[i] !== value[i]) return undefined;
    let added: JsonValue;
    try {
      // Encoded as a list, so the depth limit counts as it does for the whole value.
      added = this.#codec.encode(value.slice(before.length), path);
    } catch {
      // Encoded whole again, so the error names the item's real index.
      return undefined;
    }
    return frozenConcat(cached.json as JsonValue[], added as JsonValue[]) as JsonValue;
  }

  // The value map, copied first if a snapshot shares it.
  #writableValues(): Map<string, unknown> {
    if (this.#shared) {
      this.#values = new Map(this.#values);
      this.#shared = false;
    }
    this.#snapshot = undefined;
    return this.#values;
  }

  #advance(newRevision: number, opCount: number, cause: CommitEvent['cause']): number {
    const previousRevision = this.#revision;
    this.#revision = newRevision;
    this.#snapshot = undefined;
    if (this.#listeners.size > 0) {
      const event: CommitEvent = { previousRevision, newRevision, opCount, snapshot: this.snapshot(), cause };
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          const legacy = this.#onListenerError;
          reportBackgroundError(legacy ? (e) => legacy(e, event) : this.#onError, error, {
            source: 'StateStore commit listener',
            details: { revision: newRevision },
          });
        }
      }
    }
    return newRevision;
  }
}

function deepFreezeJson(json: JsonValue): JsonValue {
  deepFreeze(json);
  return json;
}

function checkPluginName(plugin: unknown): asserts plugin is string {
  if (typeof plugin !== 'string' || plugin.length === 0) {
    throw new InvalidInputError(`plugin name must be a non-empty string, got ${JSON.stringify(plugin)}`, {
      plugin,
    });
  }
}
