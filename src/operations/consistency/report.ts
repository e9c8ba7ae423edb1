/** The report of `ConsistencyChecker.check()` and the changes of `repair()`. */

/** What kind of inconsistency a finding is. */
export type FindingKind =
  | 'missing-required'
  | 'corrupt-value'
  | 'checksum-mismatch'
  | 'unknown-type'
  | 'unknown-module-type'
  | 'bad-revision'
  | 'time-order'
  | 'expired-not-swept'
  | 'unreadable-page'
  | 'participant-not-agent'
  | 'dangling-attempt'
  | 'dangling-span'
  | 'dangling-latest-attempt'
  | 'latest-attempt-not-newest'
  | 'attempt-order'
  | 'unresolved-resources'
  | 'dangling-worker-attempt'
  | 'dangling-queue-entry'
  | 'sequence-counter-behind'
  | 'stale-rollout-status';

/** Where a finding is: a document, or a row of a rollout table. */
export type FindingLocation = { namespace: string; id: string } | { table: string; key: string };

/** One inconsistency. */
export interface Finding {
  /** What is wrong. */
  kind: FindingKind;
  /** The document or row. */
  document: FindingLocation;
  /** Human-readable description. */
  message: string;
  /** What to do about it. */
  fix: string;
  /** Whether `repair()` fixes it (only safe fixes are automatic). */
  repairable: boolean;
}

/** Result of `check()`. */
export interface ConsistencyReport {
  /** Findings that mean data is wrong or unusable. */
  errors: Finding[];
  /** Findings worth a look that may be legitimate. */
  warnings: Finding[];
  /** ISO time of the check. */
  checkedAt: string;
  /** What was looked at. */
  counts: Record<string, number>;
  /** Kinds whose findings were cut at `maxFindings` (more exist). */
  truncated: FindingKind[];
}

/** One change `repair()` made (or would make, with `dryRun`). */
export interface RepairChange {
  /** The finding kind it fixes. */
  kind: FindingKind;
  /** The document or row changed. */
  document: FindingLocation;
  /** What was (or would be) done. */
  action: string;
}

/** Result of `repair()`. */
export interface RepairReport {
  /** Whether anything was written. */
  dryRun: boolean;
  /** Changes made or planned. */
  changes: RepairChange[];
  /** Repairable findings left alone because a store they need was not given. */
  skipped: RepairChange[];
  /** The check the repair was based on. */
  report: ConsistencyReport;
}
