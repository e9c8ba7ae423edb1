export type { DeleteReason, TtlStoreEvents, TtlStoreListener } from './events.ts';
export { KeyvTtlAdapter, type KeyvTtlAdapterOptions, keyvTtlAdapter } from './keyv.ts';
export { acquireLockWith, type LockBackend } from './locks.ts';
export { TtlStore, type TtlStoreOptions } from './memoryStore.ts';
export type { ExpiryWatchOptions } from './redisExpiries.ts';
export { RedisTtlStore, type RedisTtlStoreOptions } from './redisStore.ts';
export type { LockOptions, MaybePromise, TtlLock, TtlOptions, TtlStoreLike } from './types.ts';
