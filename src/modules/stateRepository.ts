/**
 * `StateRepository`: one place to save and load any registered `StateModule` (the seed's `save_state`,
 * `load_state`, `delete_state`, `list_states`, `state_exists`, `get_state_info`, sections 5.1-5.3), over a
 * `PersistenceRouter` or any `DocumentStore`. A module is stored as its typed envelope in the document
 * `category/id`; loading looks the type up in a registry of explicitly registered names and never
 * resolves a class from a name found in data (the seed imported whatever module path the file named).
 * The agent and session managers store through it.
 */

import type { BatchOperation, DocumentStore, StoredDocument } from '../drivers/index.ts';
import { checkId, checkNamespace } from '../drivers/index.ts';
import {
  AgentStateError,
  CorruptStateError,
  errorMessage,
  InvalidInputError,
  UnknownTypeError,
} from '../errors.ts';
import {
  type ModuleEnvelope,
  type ModuleTypeRegistry,
  moduleTypes,
  type StateModuleClass,
} from './moduleTypes.ts';
import type { LoadStateOptions, StateModule } from './stateModule.ts';

/** Options of `StateRepository`. */
export interface StateRepositoryOptions {
  /** Module types that may be loaded (default: the default registry). */
  types?: ModuleTypeRegistry;
}

/** Options of `StateRepository.save`. */
export interface SaveStateOptions {
  /** Compare-and-set: the revision last seen; `0` creates only. Stale -> `REVISION_CONFLICT`. */
  expectedRevision?: number;
  /** Time to live, ms (overrides the router rule's TTL). */
  ttlMs?: number;
}

/** Options of `StateRepository.load`. */
export interface LoadModuleOptions<M extends StateModule> extends LoadStateOptions {
  /** Load into this module instead of making a new one; the saved type must be its registered type. */
  into?: M;
  /** The saved module must be this class (or a subclass). */
  type?: StateModuleClass<M>;
}

/** What is known about a saved module without loading it (the seed's `get_state_info`). */
export interface StateInfo {
  /** Document id. */
  id: string;
  /** Revision, +1 per save. */
  revision: number;
  /** First save, epoch ms. */
  createdAt: number;
  /** Last save, epoch ms. */
  updatedAt: number;
  /** Bytes stored (after compression); undefined for documents written before sizes were kept. */
  sizeBytes: number | undefined;
  /** SHA-256 of the stored bytes; undefined for documents written before checksums were kept. */
  checksum: string | undefined;
  /** Registered type name the module was saved as. */
  typeName: string;
  /** Version of the saved form. */
  typeVersion: number;
  /** Whether the stored bytes are compressed. */
  compressed: boolean;
  /** Expiry, epoch ms, when the document has a TTL. */
  expiresAt?: number;
}

/** One page of `list`. */
export interface StateInfoPage {
  /** Saved modules of the page, in id order. */
  items: StateInfo[];
  /** Pass to the next call; undefined after the last page. */
  cursor?: string;
}

// Page size when a manager reads a whole category back.
const LOAD_PAGE = 1000;

/** Saves and loads registered state modules by category and id. */
export class StateRepository {
  /** The store documents go to (a router or a driver). */
  readonly store: DocumentStore;
  /** Registered module types. */
  readonly types: ModuleTypeRegistry;

  constructor(store: DocumentStore, options: StateRepositoryOptions = {}) {
    if (store === null || typeof store !== 'object' || typeof store.get !== 'function') {
      throw new InvalidInputError('StateRepository needs a DocumentStore (a driver or a PersistenceRouter)');
    }
    this.store = store;
    this.types = options.types ?? moduleTypes;
  }

  /** Saves a module; its class must be a registered type. Returns the info of what was stored. */
  async save(
    category: string,
    id: string,
    module: StateModule,
    options: SaveStateOptions = {},
  ): Promise<StateInfo> {
    checkId(id, category);
    const envelope = this.#envelope(category, id, module, 'module');
    const doc = await this.store.put(category, id, envelope, {
      ...(options.expectedRevision !== undefined && { expectedRevision: options.expectedRevision }),
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
    });
    return infoOf(doc, envelope);
  }

  /**
   * Loads a module, or undefined when none is saved. The saved type must be registered; with `type`,
   * it must be that class; with `into`, the state is loaded into that module (unchanged on failure).
   */
  async load<M extends StateModule = StateModule>(
    category: string,
    id: string,
    options: LoadModuleOptions<M> = {},
  ): Promise<M | undefined> {
    const doc = await this.store.get(category, id);
    if (!doc) return undefined;
    const { into, type, ...load } = options;
    try {
      const copy = isShared(doc.value);
      if (into) return this.types.loadInto(doc.value, into, { copy, ...load });
      return this.types.fromEnvelope<M>(doc.value, { copy, ...load, ...(type && { expected: type }) });
    } catch (error) {
      throw withKey(
        error,
        `saved state ${category}/${id} cannot be loaded`,
        { namespace: category, id },
        true,
      );
    }
  }

  /** Deletes a saved module; false when there was none. */
  delete(category: string, id: string, options: { expectedRevision?: number } = {}): Promise<boolean> {
    return this.store.delete(category, id, options);
  }

  /** Whether a module is saved under this id. */
  async exists(category: string, id: string): Promise<boolean> {
    return (await this.store.get(category, id)) !== undefined;
  }

  /** Revision, times, size, checksum, type and compression of a saved module; undefined when none. */
  async info(category: string, id: string): Promise<StateInfo | undefined> {
    const doc = await this.store.get(category, id);
    return doc && infoOf(doc, envelopeOf(doc, category));
  }

  /** Lists the saved modules of a category in id order, one page at a time. */
  async list(
    category: string,
    options: { prefix?: string; limit?: number; cursor?: string } = {},
  ): Promise<StateInfoPage> {
    const page = await this.store.list(category, options);
    const items = page.items.map((doc) => infoOf(doc, envelopeOf(doc, category)));
    return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
  }

  /**
   * Saves many modules and deletes others in ONE atomic batch: all of them or none. Every envelope is
   * built first, so a module that cannot be stored fails before anything is written.
   */
  async saveAll(
    category: string,
    modules: Iterable<readonly [string, StateModule]>,
    deletions: Iterable<string> = [],
    label = 'module',
  ): Promise<void> {
    checkNamespace(category);
    const operations: BatchOperation[] = [];
    for (const [id, module] of modules) {
      operations.push({
        type: 'put',
        namespace: category,
        id,
        value: this.#envelope(category, id, module, label),
      });
    }
    for (const id of deletions) operations.push({ type: 'delete', namespace: category, id });
    if (operations.length > 0) await this.store.batch(operations);
  }

  /**
   * Loads every module of a category. Each is read, type checked, migrated and loaded before any is
   * returned; the first failure throws naming the id. Above 1000 modules the category is read in pages,
   * so a concurrent save can mix module versions across pages (each module itself is always whole).
   */
  async loadAll<M extends StateModule>(
    category: string,
    options: LoadStateOptions & { type?: StateModuleClass<M>; label?: string } = {},
  ): Promise<Map<string, M>> {
    const { type, label = 'module', ...load } = options;
    const loaded = new Map<string, M>();
    let cursor: string | undefined;
    do {
      const page = await this.store.list(category, {
        limit: LOAD_PAGE,
        ...(cursor !== undefined && { cursor }),
      });
      for (const doc of page.items) {
        try {
          loaded.set(
            doc.id,
            this.types.fromEnvelope<M>(doc.value, {
              copy: isShared(doc.value),
              ...load,
              ...(type && { expected: type }),
            }),
          );
        } catch (error) {
          throw withKey(
            error,
            `stored ${label} '${doc.id}' cannot be loaded`,
            { namespace: category, id: doc.id },
            true,
          );
        }
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return loaded;
  }

  #envelope(category: string, id: string, module: StateModule, label: string): ModuleEnvelope {
    try {
      return this.types.toEnvelope(module);
    } catch (error) {
      throw withKey(error, `cannot save ${label} '${id}'`, { namespace: category, id }, false);
    }
  }
}

/**
 * Whether a loaded value may be shared with other readers. A driver decodes a fresh copy per read, which
 * a module may adopt without copying; a store that hands one value to every reader (`CachedStore`)
 * deep-freezes it, and a module must never adopt that one: it would be frozen, and shared.
 */
export function isShared(value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.isFrozen(value);
}

function envelopeOf(doc: StoredDocument, category: string): ModuleEnvelope {
  const value = doc.value as Partial<ModuleEnvelope> | null;
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof value.type !== 'string' ||
    !Number.isSafeInteger(value.version)
  ) {
    throw new CorruptStateError(`document ${category}/${doc.id} is not a saved state module`, {
      namespace: category,
      id: doc.id,
    });
  }
  return value as ModuleEnvelope;
}

function infoOf(doc: StoredDocument, envelope: ModuleEnvelope): StateInfo {
  return {
    id: doc.id,
    revision: doc.revision,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    sizeBytes: doc.storage?.sizeBytes,
    checksum: doc.storage?.checksum,
    typeName: envelope.type,
    typeVersion: envelope.version,
    compressed: doc.storage !== undefined && doc.storage.compression !== 'none',
    ...(doc.expiresAt !== undefined && { expiresAt: doc.expiresAt }),
  };
}

/**
 * Adds which module failed to an error. An unknown type keeps its code; any other failure to load stored
 * data is `CORRUPT_STATE` (the document is left as it is), and a failure to save is `INVALID_INPUT`.
 */
export function withKey(
  error: unknown,
  prefix: string,
  details: Record<string, unknown>,
  loading: boolean,
): AgentStateError {
  const merged = { ...(error instanceof AgentStateError ? error.details : {}), ...details };
  const message = `${prefix}: ${errorMessage(error)}`;
  if (error instanceof UnknownTypeError) return new UnknownTypeError(message, merged);
  if (loading) return new CorruptStateError(message, merged, { cause: error });
  return new InvalidInputError(message, merged, { cause: error });
}

/** The repository a manager stores through: the one given, or one over its `store` with its `types`. */
export function managerRepository(options: {
  store?: DocumentStore | undefined;
  repository?: StateRepository | undefined;
  types?: ModuleTypeRegistry | undefined;
}): StateRepository | undefined {
  if (options.store && options.repository) {
    throw new InvalidInputError('give a manager either store or repository, not both');
  }
  if (options.repository) return options.repository;
  return options.store && new StateRepository(options.store, options.types ? { types: options.types } : {});
}
