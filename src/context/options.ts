import type { Codec, Compression } from '../codec/index.ts';
import type { CorruptStateError } from '../errors.ts';
import { InvalidInputError } from '../errors.ts';
import type { BackgroundErrorHandler } from '../shared/backgroundErrors.ts';
import type { FileLockOptions } from '../shared/fileLock.ts';

/** Saving shortly after changes, without an explicit `save()`. */
export interface AutosaveOptions {
  /** Save this long after the last change (each change restarts the wait). */
  debounceMs: number;
  /** Save at the latest this long after the first unsaved change, even if changes keep coming. */
  maxWaitMs?: number;
}

/** Reported when a corrupt file was moved aside (`onCorrupt: 'quarantine'`). */
export interface QuarantineEvent {
  /** The context file. */
  path: string;
  /** Where the unreadable file now is; nothing in it was deleted. */
  quarantinedPath: string;
  /** Why the file could not be read. */
  error: CorruptStateError;
}

/** Options of `PersistentContext.create`. */
export interface PersistentContextOptions {
  /** Codec for values (default: the package's default `codec`, with the classes registered on it). */
  codec?: Codec;
  /** Compress the file (default `none`: readable JSON). Any file is read whatever its compression. */
  compression?: Compression;
  /** Save automatically after changes; `close()` always saves pending changes. */
  autosave?: AutosaveOptions;
  /**
   * What to do with a file that cannot be read: `throw` (default) a `CorruptStateError` naming the path
   * and leave the file untouched; or `quarantine`: rename it aside, report it, and start empty.
   */
  onCorrupt?: 'throw' | 'quarantine';
  /** Called when a corrupt file was moved aside. Without it, the `CorruptStateError` goes to `onError`. */
  onQuarantine?: (event: QuarantineEvent) => void;
  /** Keep this many previous versions next to the file as `<file>.bak.1` (newest) ... `.bak.N` (default 0). */
  backups?: number;
  /** Cross-process lock timing. */
  lock?: FileLockOptions;
  /**
   * Receives errors no call can throw: a failed autosave (the changes stay unsaved and the next save
   * retries them), a quarantined file without `onQuarantine`, a failed refresh of a held lock (default:
   * a process warning).
   */
  onError?: BackgroundErrorHandler;
  /** @deprecated Use `onError`, which receives autosave failures too; when both are given, this one gets them. */
  onAutosaveError?: (error: unknown) => void;
}

/** Throws `INVALID_INPUT` for options that cannot work, naming the option. */
export function checkOptions(options: PersistentContextOptions): void {
  const { compression, onCorrupt, backups, autosave, lock } = options;
  if (compression !== undefined && !['none', 'gzip', 'brotli'].includes(compression)) {
    throw new InvalidInputError(
      `compression must be 'none', 'gzip' or 'brotli', got ${String(compression)}`,
      {
        compression,
      },
    );
  }
  if (onCorrupt !== undefined && onCorrupt !== 'throw' && onCorrupt !== 'quarantine') {
    throw new InvalidInputError(`onCorrupt must be 'throw' or 'quarantine', got ${String(onCorrupt)}`, {
      onCorrupt,
    });
  }
  if (backups !== undefined && !(Number.isSafeInteger(backups) && backups >= 0)) {
    throw new InvalidInputError(`backups must be a whole number >= 0, got ${String(backups)}`, { backups });
  }
  if (autosave !== undefined) {
    checkMs('autosave.debounceMs', autosave.debounceMs, true);
    if (autosave.maxWaitMs !== undefined) checkMs('autosave.maxWaitMs', autosave.maxWaitMs, false);
  }
  if (lock?.staleMs !== undefined) checkMs('lock.staleMs', lock.staleMs, false);
  if (lock?.timeoutMs !== undefined) checkMs('lock.timeoutMs', lock.timeoutMs, true);
}

function checkMs(name: string, value: unknown, zeroOk: boolean): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) {
    throw new InvalidInputError(`${name} must be a finite number of milliseconds, got ${String(value)}`, {
      [name]: value,
    });
  }
}
