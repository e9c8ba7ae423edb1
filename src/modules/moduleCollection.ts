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
import { checkId, checkNamespace } from '../drivers/index.ts';
import { CorruptStateError, InvalidInputError } from '../errors.ts';
import type { ModuleTypeRegistry, StateModuleClass } from './moduleTypes.ts';
import type { LoadStateOptions, StateModule } from './stateModule.ts';
import type { StateRepository } from './stateRepository.ts';

/** What `saveAll` wrote. */
export interface SaveAllResult {
  /** Modules written. */
  saved: number;
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
}

/** Modules by id, persisted as a whole. */
export class ModuleCollection<M extends StateModule> {
  readonly #modules = new Map<string, M>();
  // Ids removed since the last successful save: their documents are deleted by the next saveAll.
  readonly #removed = new Set<string>();
  readonly #options: ModuleCollectionOptions<M>;
  // saveAll and loadAll run one at a time, so a load never interleaves with a save's bookkeeping.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ModuleCollectionOptions<M>) {
    checkNamespace(options.namespace);
    this.#options = options;
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
    this.#options.onAdd(id, module);
  }

  /** Removes a module; its document is deleted by the next `saveAll`. */
  remove(id: string): boolean {
    const module = this.#modules.get(id);
    if (!module) return false;
    this.#modules.delete(id);
    this.#removed.add(id);
    this.#options.onRemove(id, module);
    return true;
  }

  /** Writes every module, and deletes removed ones, in one atomic batch. */
  saveAll(): Promise<SaveAllResult> {
    return this.#serial(async () => {
      const repository = this.#repository();
      const { namespace, label } = this.#options;
      for (const [id, module] of this.#modules) {
        // A module whose id attribute was reassigned would be saved under one id carrying another, which
        // loadAll refuses; refuse it here instead, before anything is written.
        if (this.#options.idOf(module) !== id) {
          throw new InvalidInputError(
            `cannot save ${label} '${id}': its id was changed to '${this.#options.idOf(module)}'; ids are fixed once created`,
            { namespace, id, changedTo: this.#options.idOf(module) },
          );
        }
      }
      const deletions = [...this.#removed].filter((id) => !this.#modules.has(id));
      await repository.saveAll(namespace, this.#modules, deletions, label);
      for (const id of deletions) this.#removed.delete(id);
      return { saved: this.#modules.size, deleted: deletions.length };
    });
  }

  /**
   * Replaces the modules in memory with those saved in the namespace. Every document is read, type
   * checked, migrated and loaded first; if any fails, memory is left unchanged and the error names the id.
   */
  loadAll(options: LoadStateOptions = {}): Promise<number> {
    return this.#serial(async () => {
      const { namespace, label, expected, idOf } = this.#options;
      const loaded = await this.#repository().loadAll(namespace, { ...options, type: expected, label });
      for (const [id, module] of loaded) {
        if (idOf(module) !== id) {
          throw new CorruptStateError(
            `stored ${label} '${id}' carries the id '${idOf(module)}'; it is kept as it is, fix or remove it`,
            { namespace, id, storedId: idOf(module) },
          );
        }
      }
      for (const [id, module] of this.#modules) this.#options.onRemove(id, module);
      this.#modules.clear();
      this.#removed.clear();
      for (const [id, module] of loaded) {
        this.#modules.set(id, module);
        this.#options.onAdd(id, module);
      }
      return loaded.size;
    });
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
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
