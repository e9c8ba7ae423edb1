export {
  createFsStore,
  DEFAULT_FS_DIR,
  type DocumentVersion,
  type FsDocumentStore,
  type FsStoreOptions,
} from './fs.ts';
export type { DriverSpec } from './kernel/context.ts';
export { createDocumentStore } from './kernel/documentStore.ts';
export { planWrites } from './kernel/revisions.ts';
export type {
  DeleteOp,
  DriverContext,
  Page,
  PutOp,
  StorageDriver,
  StoredRow,
  WriteOp,
  Written,
} from './kernel/storage.ts';
export { expiryTime, MAX_TTL_MS } from './kernel/ttl.ts';
export { createMemoryStore, type MemoryStoreOptions } from './memory.ts';
export { createPostgresStore, type PostgresStoreOptions } from './postgres.ts';
export { createRedisStore, type RedisStoreOptions } from './redis.ts';
export {
  type AtomicWriteOptions,
  fsyncDirectory,
  quarantineFile,
  writeFileAtomic,
} from './shared/atomicWrite.ts';
export { ChangeHub } from './shared/changeHub.ts';
export { ExpiryHeap, type ExpiryItem } from './shared/expiryHeap.ts';
export { revisionConflict } from './shared/revisionConflict.ts';
export {
  checkId,
  checkNamespace,
  checkTtlMs,
  MAX_ID_LENGTH,
  MAX_LIST_LIMIT,
  MAX_NAMESPACE_LENGTH,
} from './shared/validate.ts';
export { watchChanges } from './shared/watchChanges.ts';
export type { SqliteSynchronous } from './sqlite/schema.ts';
export { createSqliteStore, DEFAULT_SQLITE_PATH, type SqliteStoreOptions } from './sqlite.ts';
export type * from './types.ts';
