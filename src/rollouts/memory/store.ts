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
    super(new MemoryRolloutRepository(options), options);
  }
}
