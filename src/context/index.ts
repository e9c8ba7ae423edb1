export { backupPath } from './backups.ts';
export { FORMAT as CONTEXT_FILE_FORMAT, FORMAT_VERSION as CONTEXT_FILE_VERSION } from './fileFormat.ts';
export type { FileLock, FileLockOptions } from './fileLock.ts';
export { acquireFileLock } from './fileLock.ts';
export type { AutosaveOptions, PersistentContextOptions, QuarantineEvent } from './options.ts';
export { PersistentContext, type ReloadOptions } from './persistentContext.ts';
