/**
 * `RepositoryRolloutStore`: the rollout store over a synchronous `RolloutRepository`. `InMemoryRolloutStore`
 * and `SqliteRolloutStore` are this class plus their repository; every method is the one store's
 * (./store.ts), the repository adapted by ./syncRepository.ts.
 */
import type { RolloutStoreOptions } from '../types.ts';
import type { RolloutRepository } from './repository.ts';
import { AsyncRepositoryStore } from './store.ts';
import { SyncRepositoryBackend } from './syncRepository.ts';

/** The rollout store over a synchronous repository; backends subclass it with theirs. */
export class RepositoryRolloutStore extends AsyncRepositoryStore {
  /** The storage under the store. */
  protected readonly repo: RolloutRepository;

  /** Wraps a repository; starts the background health check. */
  constructor(repo: RolloutRepository, options: RolloutStoreOptions = {}) {
    super(new SyncRepositoryBackend(repo, options), options);
    this.repo = repo;
  }
}
