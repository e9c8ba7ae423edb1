/**
 * `BackupSource`: what the backup manager needs from a store. A source lists its sections (one per
 * namespace or rollout table), streams each section's records, and restores records given back to it in
 * one transaction (or by an atomic swap) so a failed restore changes nothing.
 */
import type { JsonValue } from '../../codec/index.ts';
import type { SectionEntry, SectionKind } from './format.ts';

/** A section a source can write: documents of a namespace or rows of a table. */
export interface SectionRef {
  /** Documents or table rows. */
  kind: SectionKind;
  /** Namespace or table name. */
  collection: string;
}

/** An open read of a source; where the backend allows, every section comes from one snapshot. */
export interface BackupReadSession {
  /** The sections to write, in order. */
  sections(): Promise<SectionRef[]>;
  /** Streams the records of one section in a bounded number of rows at a time. */
  records(section: SectionRef): AsyncIterable<JsonValue>;
  /** Ends the read (releases the snapshot). */
  close(): Promise<void>;
}

/** How restore treats documents and rows that exist in the target. */
export type RestoreMode = 'replace' | 'merge';

/** A record kept because it differs from the backup (merge without `overwrite`). */
export interface RestoreConflict {
  /** Section name in the backup. */
  section: string;
  /** Document id or row key. */
  key: string;
  /** Revision in the backup (documents only). */
  backupRevision?: number;
  /** Revision in the target (documents only). */
  currentRevision?: number;
  /** Whether the backup's version was written anyway (`overwrite: true`). */
  overwritten: boolean;
}

/** What a source is asked to restore. */
export interface RestorePlan {
  /** Name of the backup (for errors). */
  backup: string;
  /** Sections of the backup meant for this source, already verified. */
  sections: SectionEntry[];
  /** Re-reads the records of a section from the backup file. */
  records(section: SectionEntry): AsyncIterable<JsonValue>;
  /** `replace`: each restored namespace/table becomes exactly the backup's; `merge`: add what is missing. */
  mode: RestoreMode;
  /** In merge mode, write the backup's version over a differing one (default false: report and keep). */
  overwrite: boolean;
  /** Called after each record applied. */
  onRecord?: () => void;
}

/** What a source restore did. */
export interface SourceRestoreResult {
  /** Documents/rows written. */
  written: number;
  /** Documents/rows removed (replace mode). */
  deleted: number;
  /** Documents/rows already equal to the backup's. */
  unchanged: number;
  /** Records that differ in the target (merge). */
  conflicts: RestoreConflict[];
}

/** A store the backup manager can back up and restore. */
export interface BackupSource {
  /** Unique name among the manager's sources (`documents`, `rollouts`, ...). */
  readonly name: string;
  /** Backend: `memory`, `fs`, `sqlite`, `postgres`. */
  readonly backend: string;
  /** What it holds. */
  readonly holds: Array<'documents' | 'rollouts'>;
  /** Starts a read. */
  openRead(): Promise<BackupReadSession>;
  /** Restores the plan's sections; all or nothing. */
  restore(plan: RestorePlan): Promise<SourceRestoreResult>;
}

/** A fresh result. */
export const emptyRestoreResult = (): SourceRestoreResult => ({
  written: 0,
  deleted: 0,
  unchanged: 0,
  conflicts: [],
});
