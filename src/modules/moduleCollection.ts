/**
 * The part the agent and session managers share: modules by id, saved to and loaded from one namespace
 * through a `StateRepository`, each as a typed envelope in a document keyed by the module's id. Ids are document
 * ids (data), never file names, so no id can reach outside the namespace (the seed wrote all states to one
 * JSON file at a caller-given path and logged-and-skipped entries that failed to load).
 *
 * Crash safety: `saveAll` builds every envelope first (a value that cannot be stored fails before anything
 * is written) and writes them, plus the deletions of removed modules, in ONE `batch`, which every driver
 * applies all-or-nothing. An interrupted save therefore leaves the previous saved state, complete.
 * `loadAll` reads and checks every document before it replaces anything in memory.
 */

import type { BatchOperation } from '../drivers/index.ts';
import { checkId, checkNamespace, deleteByPrefix } from '../drivers/index.ts';
import { AgentStateError, CorruptStateError, InvalidInputError, RevisionConflictError } from '../errors.ts';
import { SerialQueue } from '../shared/serialQueue.ts';
import { type AppendLogOptions, type AppendLogRecord, IncrementalSaves } from './incrementalSaves.ts';
import type { ModuleTypeRegistry, StateModuleClass } from './moduleTypes.ts';
import type { LoadStateOptions, StateModule } from './stateModule.ts';
import { type StateRepository, withKey } from './stateRepository.ts';

/** Page size when reading a namespace back incrementally. */
const LOAD_PAGE = 1000;

/** What `saveAll` wrote. */
export interface SaveAllResult {
  /** Modules saved: every module of the collection is stored as it is now. */
  saved: number;
  /** Modules whose documents were written by this save (unchanged ones are skipped when saving incrementally). */
  written?: number;
  /** Documents of removed modules deleted. */
  deleted: number;
}

/** How a collection relates to its module class. */
export interface ModuleCollectionOptions<M extends StateModule> {
  repository: StateRepository | undefined;
  namespace: string;
  types: ModuleTypeRegistry;
  expected: StateModuleClass<M>;
  /** `agent` or `session`, for messages. */
  label: string;
  /** The id a module carries in its state (must equal its document id). */
  idOf(module: M): string;
  /** Called when a module enters the collection (created or loaded). */
  onAdd(id: string, module: M): void;
  /** Called when a module leaves it (removed or replaced by a load). */
  onRemove(id: string, module: M): void;
  /** Saves incrementally, with this list attribute stored as appended chunks (see incrementalSaves.ts). */
  appendLog?: AppendLogOptions;
}

/** Modules by id, persisted as a whole. */
export class ModuleCollection<M extends StateModule> {
  readonly #modules = new Map<string, M>();
  // Ids removed since the last successful save: their documents are deleted by the next saveAll.
  readonly #removed = new Set<string>();
  readonly #options: ModuleCollectionOptions<M>;
  // saveAll and loadAll run one at a time, so a load never interleaves with a save's bookkeeping.
  readonly #queue = new SerialQueue();

  readonly #incremental: IncrementalSaves | undefined;

  constructor(options: ModuleCollectionOptions<M>) {
    checkNamespace(options.namespace);
    this.#options = options;
    if (options.appendLog !== undefined) {
      checkNamespace(options.appendLog.namespace);
      this.#incremental = new IncrementalSaves(options.appendLog, options.types);
    }
  }

  /** Number of modules. */
  get size(): number {
    return this.#modules.size;
  }

  /** The module with this id, or undefined. */
  get(id: string): M | undefined {
    return this.#modules.get(id);
  }

  /** Whether a module has this id. */
  has(id: string): boolean {
    return this.#modules.has(id);
  }

  /** Ids in insertion order. */
  ids(): string[] {
    return [...this.#modules.keys()];
  }

  /** Modules in insertion order. */
  values(): M[] {
    return [...this.#modules.values()];
  }

  /** Adds a module under a new id (checked like a document id); its class must be a registered type. */
  add(id: string, module: M): void {
    checkId(id, this.#options.namespace);
    // Fails now, not at the next saveAll, when the module's class is not a registered type.
    this.#options.types.typeOf(module);
    this.#modules.set(id, module);
    this.#removed.delete(id);
    this.#incremental?.track(id, module);
    this.#options.onAdd(id, module);
  }

  /** Removes a module; its document is deleted by the next `saveAll`. */
  remove(id: string): boolean {
    const module = this.#modules.get(id);
    if (!module) return false;
    this.#modules.delete(id);
    this.#removed.add(id);
    this.#incremental?.untrack(id);
    this.#options.onRemove(id, module);
    return true;
  }

  /** Writes every module (or, incrementally, what changed), and deletes removed ones, in one atomic batch. */
  saveAll(): Promise<SaveAllResult> {
    return this.#queue.run(async () => {
      const repository = this.#repository();
      const { namespace, label } = this.#options;
      const incremental = this.#incremental;
      const operations: BatchOperation[] = [];
      // `envelope`: index in `operations` of the module's envelope put (the batch result gives its revision).
      const planned: Array<{ id: string; envelope: number; commit(revision: number): void }> = [];
      // Incrementally, only the changed modules are visited (an id change marks a module changed too), so
      // a save costs the same with 10 or 10,000 unchanged sessions stored.
      const candidates: Iterable<[string, M]> =
        incremental === undefined ? this.#modules : this.#changedModules(incremental);
      for (const [id, module] of candidates) {
        // A module whose id attribute was reassigned would be saved under one id carrying another, which
        // loadAll refuses; refuse it here instead, before anything is written.
        if (this.#options.idOf(module) !== id) {
          incremental?.failed(planned.map((p) => p.id));
          throw new InvalidInputError(
            `cannot save ${label} '${id}': its id was changed to '${this.#options.idOf(module)}'; ids are fixed once created`,
            { namespace, id, changedTo: this.#options.idOf(module) },
          );
        }
        if (incremental === undefined) continue;
        try {
          const plan = incremental.plan(namespace, id, module);
          if (plan === undefined) continue;
          operations.push(...plan.operations);
          planned.push({ id, envelope: operations.length - 1, commit: plan.commit });
        } catch (error) {
          incremental.failed([...planned.map((p) => p.id), id]);
          throw withKey(error, `cannot save ${label} '${id}'`, { namespace, id }, false);
        }
      }
      const deletions = [...this.#removed].filter((id) => !this.#modules.has(id));
      if (incremental === undefined) {
        await repository.saveAll(namespace, this.#modules, deletions, label);
        for (const id of deletions) this.#removed.delete(id);
        return { saved: this.#modules.size, deleted: deletions.length };
      }
      for (const id of deletions) {
        const expectedRevision = incremental.expectedRevision(id);
        // Never saved (or already gone): nothing to delete, and a delete cannot create-only check.
        if (expectedRevision > 0)
          operations.push({ type: 'delete', namespace, id, options: { expectedRevision } });
      }
      let results: Array<{ revision: number | null }> = [];
      try {
        if (operations.length > 0) results = (await repository.store.batch(operations)).results;
      } catch (error) {
        incremental.failed(planned.map((p) => p.id));
        throw conflictOf(error, namespace, label);
      }
      for (const p of planned) p.commit(results[p.envelope]?.revision ?? 0);
      for (const id of deletions) {
        this.#removed.delete(id);
        incremental.stored(id, 0);
        // Chunks of a removed module are unreachable once its envelope is gone; they are cleared after.
        const chunks = incremental.chunksOf(id);
        if (!this.#modules.has(id))
          await deleteByPrefix(repository.store, chunks.namespace, chunks.prefix, LOAD_PAGE);
      }
      return { saved: this.#modules.size, written: planned.length, deleted: deletions.length };
    });
  }

  /**
   * Replaces the modules in memory with those saved in the namespace. Every document is read, type
   * checked, migrated and loaded first; if any fails, memory is left unchanged and the error names the id.
   */
  loadAll(options: LoadStateOptions = {}): Promise<number> {
    return this.#queue.run(async () => {
      const { namespace, label, expected, idOf } = this.#options;
      const logs = new Map<string, AppendLogRecord | undefined>();
      const revisions = new Map<string, number>();
      const loaded =
        this.#incremental === undefined
          ? await this.#repository().loadAll(namespace, { ...options, type: expected, label })
          : await this.#loadIncremental(options, logs, revisions);
      for (const [id, module] of loaded) {
        if (idOf(module) !== id) {
          throw new CorruptStateError(
            `stored ${label} '${id}' carries the id '${idOf(module)}'; it is kept as it is, fix or remove it`,
            { namespace, id, storedId: idOf(module) },
          );
        }
      }
      for (const [id, module] of this.#modules) {
        this.#incremental?.untrack(id);
        this.#options.onRemove(id, module);
      }
      this.#incremental?.reset();
      this.#modules.clear();
      this.#removed.clear();
      for (const [id, module] of loaded) {
        this.#modules.set(id, module);
        this.#incremental?.track(id, module, logs.get(id), revisions.get(id));
        this.#options.onAdd(id, module);
      }
      return loaded.size;
    });
  }

  // Reads the namespace page by page, filling each module's list from its chunks (incrementalSaves.ts).
  async #loadIncremental(
    options: LoadStateOptions,
    logs: Map<string, AppendLogRecord | undefined>,
    revisions: Map<string, number>,
  ): Promise<Map<string, M>> {
    const repository = this.#repository();
    const { namespace, label, expected } = this.#options;
    const loaded = new Map<string, M>();
    let cursor: string | undefined;
    do {
      const page = await repository.store.list(namespace, {
        limit: LOAD_PAGE,
        ...(cursor !== undefined && { cursor }),
      });
      for (const doc of page.items) {
        try {
          const read = await this.#incremental!.read(repository.store, doc.id, doc.value);
          logs.set(doc.id, read.log);
          revisions.set(doc.id, doc.revision);
          // Documents freshly decoded by a driver need no copy; values shared by a cache do.
          loaded.set(
            doc.id,
            repository.types.fromEnvelope<M>(read.envelope, { copy: read.shared, ...options, expected }),
          );
        } catch (error) {
          throw withKey(
            error,
            `stored ${label} '${doc.id}' cannot be loaded`,
            { namespace, id: doc.id },
            true,
          );
        }
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return loaded;
  }

  *#changedModules(incremental: IncrementalSaves): Generator<[string, M]> {
    for (const id of incremental.changed()) {
      const module = this.#modules.get(id);
      if (module !== undefined) yield [id, module];
    }
  }

  #repository(): StateRepository {
    if (!this.#options.repository) {
      throw new InvalidInputError(
        `no store configured: pass { store } or { repository } to the ${this.#options.label} manager`,
        {},
      );
    }
    return this.#options.repository;
  }
}

// A compare-and-set failure of one module's document, reworded to name the module: another writer saved
// it since this collection loaded it. The module stays changed; `loadAll` and apply the change again.
function conflictOf(error: unknown, namespace: string, label: string): unknown {
  if (!(error instanceof AgentStateError) || error.code !== 'REVISION_CONFLICT') return error;
  const id = error.details.id;
  if (error.details.namespace !== namespace || typeof id !== 'string') return error;
  return new RevisionConflictError(
    `${label} '${id}' was saved or deleted by another writer since it was loaded; nothing was written, load it again and retry`,
    { ...error.details, namespace, id },
  );
}
