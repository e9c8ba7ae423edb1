export type { FileLock, FileLockOptions } from '../shared/fileLock.ts';
export { acquireFileLock } from '../shared/fileLock.ts';
export { backupPath } from './backups.ts';
export { FORMAT as CONTEXT_FILE_FORMAT, FORMAT_VERSION as CONTEXT_FILE_VERSION } from './fileFormat.ts';
export type { AutosaveOptions, PersistentContextOptions, QuarantineEvent } from './options.ts';
export { PersistentContext, type ReloadOptions } from './persistentContext.ts';
