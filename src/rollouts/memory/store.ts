/**
 * `InMemoryRolloutStore`: the rollout store in this process's memory, for development, tests and single
 * training processes that do not need the data after exit. Same semantics as every backend.
 */
import { RepositoryRolloutStore } from '../engine/repositoryStore.ts';
import type { RolloutStoreOptions } from '../types.ts';
import { type MemoryRepositoryOptions, MemoryRolloutRepository } from './repository.ts';

/** Options of `InMemoryRolloutStore`. */
export interface InMemoryRolloutStoreOptions extends RolloutStoreOptions, MemoryRepositoryOptions {}

/** The rollout store in memory, with a byte budget for spans (see `MemoryRepositoryOptions`). */
export class InMemoryRolloutStore extends RepositoryRolloutStore {
  /** A new empty store. */
  constructor(options: InMemoryRolloutStoreOptions = {}) {
    const repository = new MemoryRolloutRepository(options);
    super(repository, options);
    repositories.set(this, repository);
  }
}

// The repository of each store, for backups (src/operations) only: not part of the store's public API.
const repositories = new WeakMap<InMemoryRolloutStore, MemoryRolloutRepository>();

/** The repository under a memory rollout store (internal: backups export and import its rows). */
export function memoryRolloutRepository(store: InMemoryRolloutStore): MemoryRolloutRepository {
  return repositories.get(store)!;
}
