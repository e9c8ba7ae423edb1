export {
  type AtomicWriteOptions,
  fsyncDirectory,
  quarantineFile,
  writeFileAtomic,
} from '../shared/atomicWrite.ts';
export { ExpiryHeap, type ExpiryItem } from '../shared/expiryHeap.ts';
export {
  createFsStore,
  DEFAULT_FS_DIR,
  type DocumentVersion,
  FS_STORE_OPTIONS,
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
export { createMemoryStore, MEMORY_STORE_OPTIONS, type MemoryStoreOptions } from './memory.ts';
// The document tables' migration, for a backup restored into an empty PostgreSQL schema.
export { migrate as migratePostgresDocuments } from './postgres/schema.ts';
export { createPostgresStore, POSTGRES_STORE_OPTIONS, type PostgresStoreOptions } from './postgres.ts';
export { createRedisStore, REDIS_STORE_OPTIONS, type RedisStoreOptions } from './redis.ts';
export { ChangeHub } from './shared/changeHub.ts';
export { getMany } from './shared/getMany.ts';
export { type OptionKind, type OptionSchema, optionProblem } from './shared/optionSchema.ts';
export { deleteByPrefix, listAll } from './shared/paging.ts';
export { type PayloadSettings, packPayload, SHARED_DRIVER_OPTIONS, unpackPayload } from './shared/payload.ts';
export { revisionConflict } from './shared/revisionConflict.ts';
export { touchExpiry } from './shared/touchExpiry.ts';
export {
  checkDocumentKey,
  checkId,
  checkNamespace,
  checkNamespaceList,
  checkTtlMs,
  checkWatchNamespace,
  MAX_ID_LENGTH,
  MAX_LIST_LIMIT,
  MAX_NAMESPACE_LENGTH,
} from './shared/validate.ts';
export { watchChanges } from './shared/watchChanges.ts';
export type { SqliteSynchronous } from './sqlite/schema.ts';
export {
  createSqliteStore,
  DEFAULT_SQLITE_PATH,
  SQLITE_STORE_OPTIONS,
  type SqliteStoreOptions,
} from './sqlite.ts';
export type * from './types.ts';
