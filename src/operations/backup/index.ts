export {
  type DocumentRecord,
  type DocumentStoreSourceOptions,
  documentStoreSource,
} from './documentSource.ts';
export {
  BACKUP_EXTENSION,
  BACKUP_FORMAT_VERSION,
  type BackupManifest,
  type SectionEntry,
  type SectionKind,
  type SourceEntry,
} from './format.ts';
export {
  type BackupInfo,
  BackupManager,
  type BackupManagerOptions,
  type CreateBackupOptions,
  defaultBackupName,
  type RestoreOptions,
  type RestoreResult,
  type UnreadableBackup,
} from './manager.ts';
export { type PostgresSourceOptions, postgresSource } from './postgresSource.ts';
export { ROLLOUT_TABLES, type RolloutTable } from './rolloutTables.ts';
export type {
  BackupReadSession,
  BackupSource,
  RestoreConflict,
  RestoreMode,
  RestorePlan,
  SectionRef,
  SourceRestoreResult,
} from './source.ts';
export { type SqliteSourceOptions, sqliteSource } from './sqliteSource.ts';
export type { BackupProgress } from './writer.ts';
