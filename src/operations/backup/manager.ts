/**
 * `BackupManager`: verified, streamed backups of any set of stores into one directory (the seed's
 * `StateBackupManager`). Unlike the seed, whose backup is `json.dump(..., default=str)` (types lost) and
 * whose failed restore returns False after a partial restore, a backup here keeps every type (the codec's
 * tagged form), carries a checksum per section, and a restore verifies the whole file first, then applies
 * each store's sections in one transaction (or one atomic swap), so a store is never left half restored.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AlreadyExistsError, InvalidInputError, NotFoundError } from '../../errors.ts';
import { BackupScheduler, nameOfTime, type ScheduleOptions } from '../schedule/scheduler.ts';
import {
  BACKUP_EXTENSION,
  BACKUP_FORMAT_VERSION,
  type BackupManifest,
  checkBackupName,
  type SectionEntry,
} from './format.ts';
import { readManifest, sectionRecords, verifyFile } from './reader.ts';
import type { BackupSource, RestoreConflict, RestoreMode, SourceRestoreResult } from './source.ts';
import { type BackupProgress, type SectionInput, writeBackupFile } from './writer.ts';

/** Options of `BackupManager`. */
export interface BackupManagerOptions {
  /** Directory holding the backup files (created when missing). */
  dir: string;
  /** The stores to back up; names must be unique. */
  sources: BackupSource[];
  /** Clock in epoch ms (default `Date.now`); names and `createdAt` use it. */
  now?: () => number;
}

/** Options of `create`. */
export interface CreateBackupOptions {
  /** File name without extension (default `backup-<UTC time>`); letters, digits, `.`, `_`, `-`. */
  name?: string;
  /** Only these namespaces, tables or sources (by name). */
  only?: readonly string[];
  /** Called as sections are written. */
  onProgress?: (progress: BackupProgress) => void;
}

/** A backup as listed. */
export interface BackupInfo {
  /** Name (file name without extension). */
  name: string;
  /** Path of the file. */
  file: string;
  /** File size in bytes. */
  bytes: number;
  /** ISO creation time. */
  createdAt: string;
  /** Format version. */
  formatVersion: number;
  /** agentstate version that wrote it. */
  agentstateVersion: string;
  /** Sources it holds. */
  sources: string[];
  /** Sections with their record counts. */
  sections: Array<{ name: string; count: number }>;
  /** Records in all sections. */
  records: number;
}

/** A backup file `list()` could not read (kept, never deleted by retention). */
export interface UnreadableBackup {
  name: string;
  file: string;
  /** The error code and message. */
  error: { code: string; message: string };
}

/** Options of `restore`. */
export interface RestoreOptions {
  /** Only these namespaces, tables or sources (by name); default everything. */
  only?: readonly string[];
  /** `replace` (default): each restored namespace/table becomes the backup's; `merge`: add missing records. */
  mode?: RestoreMode;
  /** Merge: write the backup's version over records that differ (default false: report them and keep). */
  overwrite?: boolean;
  /** Restore into these stores instead of the manager's (matched by source name, else by what they hold). */
  target?: BackupSource[];
  /** Called as the file is verified and records are applied. */
  onProgress?: (progress: BackupProgress) => void;
}

/** What a restore did. */
export interface RestoreResult {
  /** The backup restored. */
  backup: string;
  /** Mode used. */
  mode: RestoreMode;
  /** Sections applied. */
  sections: string[];
  /** Records written, removed, left as they were, per target source. */
  sources: Array<{ source: string } & Omit<SourceRestoreResult, 'conflicts'>>;
  /** Records that differ in the target (merge mode). */
  conflicts: RestoreConflict[];
}

const AGENTSTATE_VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Whether a section is selected by `only` (its name, namespace/table, or source). */
function selected(section: { name: string; source: string; collection: string }, only?: readonly string[]) {
  return (
    !only || only.includes(section.name) || only.includes(section.collection) || only.includes(section.source)
  );
}

/** A default backup name from a time: `backup-20260105T101500123Z` (sorts by time). */
export function defaultBackupName(epochMs: number): string {
  return `backup-${nameOfTime(epochMs)}`;
}

/** Creates, lists, verifies, restores and deletes backups of a set of stores. */
export class BackupManager {
  /** Directory of the backup files. */
  readonly dir: string;
  readonly #sources: BackupSource[];
  readonly #now: () => number;

  /** A manager over `options.sources`, keeping files in `options.dir`. */
  constructor(options: BackupManagerOptions) {
    const names = new Set<string>();
    for (const source of options.sources) {
      if (names.has(source.name)) {
        throw new InvalidInputError(`two backup sources are named ${source.name}; give each a unique name`, {
          source: source.name,
        });
      }
      names.add(source.name);
    }
    this.dir = options.dir;
    this.#sources = [...options.sources];
    this.#now = options.now ?? Date.now;
  }

  /** Path of a backup's file. */
  file(name: string): string {
    checkBackupName(name);
    return join(this.dir, `${name}${BACKUP_EXTENSION}`);
  }

  /** Writes a new backup of every source (or the `only` selection); returns its listing. */
  async create(options: CreateBackupOptions = {}): Promise<BackupInfo> {
    const started = this.#now();
    const name = options.name ?? defaultBackupName(started);
    const file = this.file(name);
    await mkdir(this.dir, { recursive: true });
    if (await exists(file))
      throw new AlreadyExistsError(`backup ${name} already exists`, { backup: name, file });
    const sources = this.#sources;
    const only = options.only;
    const sessions = await Promise.all(sources.map((s) => s.openRead()));
    try {
      async function* sections(): AsyncIterable<SectionInput> {
        for (const [i, source] of sources.entries()) {
          const session = sessions[i]!;
          for (const ref of await session.sections()) {
            if (
              !selected(
                { name: `${source.name}/${ref.collection}`, source: source.name, collection: ref.collection },
                only,
              )
            )
              continue;
            yield {
              source: source.name,
              kind: ref.kind,
              collection: ref.collection,
              records: session.records(ref),
            };
          }
        }
      }
      const manifest = await writeBackupFile(
        file,
        {
          format: 'agentstate-backup',
          formatVersion: BACKUP_FORMAT_VERSION,
          agentstateVersion: AGENTSTATE_VERSION,
          name,
          createdAt: new Date(started).toISOString(),
          compression: 'gzip',
          sources: sources.map((s) => ({ name: s.name, backend: s.backend, holds: [...s.holds] })),
        },
        sections(),
        options.onProgress,
      );
      return info(name, file, manifest, (await stat(file)).size);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  }

  /** Names of the backup files in the directory (no file is opened), sorted. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir))
        .filter((f) => f.endsWith(BACKUP_EXTENSION))
        .map((f) => f.slice(0, -BACKUP_EXTENSION.length))
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Every backup in the directory, oldest first, and the files that could not be read. */
  async list(): Promise<{ backups: BackupInfo[]; unreadable: UnreadableBackup[] }> {
    const backups: BackupInfo[] = [];
    const unreadable: UnreadableBackup[] = [];
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { backups, unreadable };
      throw error;
    }
    for (const entry of names.sort()) {
      if (!entry.endsWith(BACKUP_EXTENSION)) continue;
      const name = entry.slice(0, -BACKUP_EXTENSION.length);
      const file = join(this.dir, entry);
      try {
        const manifest = await readManifest(file, name);
        backups.push(info(name, file, manifest, (await stat(file)).size));
      } catch (error) {
        const e = error as { code?: string; message: string };
        unreadable.push({ name, file, error: { code: e.code ?? 'INTERNAL', message: e.message } });
      }
    }
    backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
    return { backups, unreadable };
  }

  /** A backup's listing (manifest read through its trailer, file size), for one name of `names()`. */
  async describe(name: string): Promise<BackupInfo> {
    const file = await this.#existing(name);
    return info(name, file, await readManifest(file, name), (await stat(file)).size);
  }

  /** The manifest of a backup (read through its trailer; sections are not checked: see `verify`). */
  async manifest(name: string): Promise<BackupManifest> {
    return readManifest(await this.#existing(name), name);
  }

  /** Recomputes every checksum and count; throws CORRUPT_STATE naming the first bad section. */
  async verify(
    name: string,
    options: { onProgress?: (progress: BackupProgress) => void } = {},
  ): Promise<BackupInfo> {
    const file = await this.#existing(name);
    const manifest = await verifyFile(file, name, options.onProgress);
    return info(name, file, manifest, (await stat(file)).size);
  }

  /** Verifies the backup, then restores it; a refused or failed restore changes nothing. */
  async restore(name: string, options: RestoreOptions = {}): Promise<RestoreResult> {
    const file = await this.#existing(name);
    const mode = options.mode ?? 'replace';
    if (mode !== 'replace' && mode !== 'merge') {
      throw new InvalidInputError(`restore mode must be 'replace' or 'merge', not ${JSON.stringify(mode)}`, {
        backup: name,
        mode,
      });
    }
    // The whole file is checked before any store is touched: a bad byte anywhere refuses the restore.
    const manifest = await verifyFile(file, name, options.onProgress);
    const targets = options.target ?? this.#sources;
    const sections = manifest.sections.filter((s) => selected(s, options.only));
    if (options.only) {
      const missing = options.only.filter(
        (o) => !manifest.sections.some((s) => s.name === o || s.collection === o || s.source === o),
      );
      if (missing.length > 0) {
        throw new NotFoundError(`backup ${name} has no section ${missing.join(', ')}`, {
          backup: name,
          section: missing[0],
        });
      }
    }
    const plan = new Map<BackupSource, SectionEntry[]>();
    for (const section of sections) {
      const target = targetFor(section, manifest, targets);
      if (!target) {
        throw new InvalidInputError(
          `backup ${name} section ${section.name} has no store to restore into (no source named ${section.source} holding ${section.kind === 'table' ? 'rollouts' : 'documents'})`,
          { backup: name, section: section.name },
        );
      }
      plan.set(target, [...(plan.get(target) ?? []), section]);
    }
    const totalRecords = sections.reduce((n, s) => n + s.count, 0);
    const totalBytes = sections.reduce((n, s) => n + s.rawBytes, 0);
    let records = 0;
    const result: RestoreResult = {
      backup: name,
      mode,
      sections: sections.map((s) => s.name),
      sources: [],
      conflicts: [],
    };
    for (const [target, targetSections] of plan) {
      const outcome = await target.restore({
        backup: name,
        sections: targetSections,
        records: (section) => sectionRecords(file, name, section),
        mode,
        overwrite: options.overwrite ?? false,
        onRecord: options.onProgress
          ? () => {
              records++;
              if (records % 1000 === 0 || records === totalRecords) {
                options.onProgress?.({
                  phase: 'restore',
                  section: '',
                  records,
                  bytes: Math.round((totalBytes * records) / Math.max(1, totalRecords)),
                  totalRecords,
                  totalBytes,
                });
              }
            }
          : undefined,
      });
      const { conflicts, ...counts } = outcome;
      result.sources.push({ source: target.name, ...counts });
      result.conflicts.push(...conflicts);
    }
    return result;
  }

  /** Starts backups on a schedule with retention (see `BackupScheduler`); stop it with `stop()`. */
  schedule(options: ScheduleOptions): BackupScheduler {
    return new BackupScheduler(this, options).start();
  }

  /** Deletes a backup; false when there was none. */
  async delete(name: string): Promise<boolean> {
    const file = this.file(name);
    if (!(await exists(file))) return false;
    await rm(file);
    return true;
  }

  async #existing(name: string): Promise<string> {
    const file = this.file(name);
    if (!(await exists(file)))
      throw new NotFoundError(`no backup named ${name} in ${this.dir}`, { backup: name, file });
    return file;
  }
}

/** The target source of a section: the one with the same name, else the only one holding that kind. */
function targetFor(
  section: SectionEntry,
  manifest: BackupManifest,
  targets: BackupSource[],
): BackupSource | undefined {
  const holds = section.kind === 'table' ? 'rollouts' : 'documents';
  const named = targets.find((t) => t.name === section.source && t.holds.includes(holds));
  if (named) return named;
  const candidates = targets.filter((t) => t.holds.includes(holds));
  // Matching by kind is safe only when both sides have a single store of that kind.
  const fromSameKind = manifest.sources.filter((s) => s.holds.includes(holds));
  return candidates.length === 1 && fromSameKind.length === 1 ? candidates[0] : undefined;
}

function info(name: string, file: string, manifest: BackupManifest, bytes: number): BackupInfo {
  return {
    name,
    file,
    bytes,
    createdAt: manifest.createdAt,
    formatVersion: manifest.formatVersion,
    agentstateVersion: manifest.agentstateVersion,
    sources: manifest.sources.map((s) => s.name),
    sections: manifest.sections.map((s) => ({ name: s.name, count: s.count })),
    records: manifest.sections.reduce((n, s) => n + s.count, 0),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
