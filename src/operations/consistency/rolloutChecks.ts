/**
 * Checks of the rollout tables (SQLite or PostgreSQL, through bounded queries): every reference resolves,
 * sequence ids and counters are monotone, and a rollout's status agrees with its latest attempt. Each query
 * returns at most `limit` rows, so a badly damaged store yields a capped report, not an unbounded one.
 */
import type { SqlRunner } from '../sql.ts';
import type { Finding, FindingKind } from './report.ts';

/** One check: the query (its `LIMIT ?` gets the cap) and how a row becomes a finding. */
interface RolloutCheck {
  kind: FindingKind;
  severity: 'error' | 'warning';
  repairable: boolean;
  query(t: (name: string) => string): string;
  finding(row: Record<string, unknown>): { table: string; key: string; message: string; fix: string };
}

const ENDED_ATTEMPT = "('succeeded', 'failed', 'timeout', 'unresponsive')";

/** Every rollout check, in report order. */
export const ROLLOUT_CHECKS: readonly RolloutCheck[] = [
  {
    kind: 'dangling-attempt',
    severity: 'error',
    repairable: false,
    query: (t) =>
      `SELECT a.rollout_id, a.attempt_id FROM ${t('agl_attempts')} a LEFT JOIN ${t('agl_rollouts')} r ON r.rollout_id = a.rollout_id
       WHERE r.rollout_id IS NULL ORDER BY a.rollout_id, a.attempt_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_attempts',
      key: `${r.rollout_id}/${r.attempt_id}`,
      message: `attempt ${r.attempt_id} belongs to rollout ${r.rollout_id}, which does not exist`,
      fix: 'restore the rollout from a backup (restore --only agl_rollouts --mode merge), or prune the attempt',
    }),
  },
  {
    kind: 'dangling-span',
    severity: 'error',
    repairable: false,
    query: (t) =>
      `SELECT s.rollout_id, s.attempt_id, s.span_id FROM ${t('agl_spans')} s LEFT JOIN ${t('agl_attempts')} a
       ON a.rollout_id = s.rollout_id AND a.attempt_id = s.attempt_id
       WHERE a.attempt_id IS NULL ORDER BY s.rollout_id, s.attempt_id, s.span_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_spans',
      key: `${r.rollout_id}/${r.attempt_id}/${r.span_id}`,
      message: `span ${r.span_id} belongs to attempt ${r.attempt_id} of rollout ${r.rollout_id}, which does not exist`,
      fix: 'restore the attempt from a backup, or delete the span',
    }),
  },
  {
    kind: 'dangling-latest-attempt',
    severity: 'error',
    repairable: false,
    query: (t) =>
      `SELECT r.rollout_id, r.latest_attempt_id FROM ${t('agl_rollouts')} r LEFT JOIN ${t('agl_attempts')} a
       ON a.rollout_id = r.rollout_id AND a.attempt_id = r.latest_attempt_id
       WHERE r.latest_attempt_id IS NOT NULL AND a.attempt_id IS NULL ORDER BY r.rollout_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_rollouts',
      key: String(r.rollout_id),
      message: `rollout ${r.rollout_id} names latest attempt ${r.latest_attempt_id}, which does not exist`,
      fix: 'restore the attempt from a backup',
    }),
  },
  {
    kind: 'latest-attempt-not-newest',
    severity: 'error',
    repairable: false,
    query: (t) =>
      `SELECT r.rollout_id, a.sequence_id AS latest, m.top FROM ${t('agl_rollouts')} r
       JOIN ${t('agl_attempts')} a ON a.rollout_id = r.rollout_id AND a.attempt_id = r.latest_attempt_id
       JOIN (SELECT rollout_id, MAX(sequence_id) AS top FROM ${t('agl_attempts')} GROUP BY rollout_id) m ON m.rollout_id = r.rollout_id
       WHERE a.sequence_id < m.top ORDER BY r.rollout_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_rollouts',
      key: String(r.rollout_id),
      message: `rollout ${r.rollout_id}'s latest attempt has sequence id ${r.latest}, but attempt ${r.top} exists`,
      fix: 'check which attempt is live; restore the rollout from a backup',
    }),
  },
  {
    kind: 'attempt-order',
    severity: 'warning',
    repairable: false,
    query: (t) =>
      // One pass in sequence order per rollout (a window over earlier attempts), not a self-join, which
      // compared every pair of a rollout's attempts.
      `SELECT rollout_id, attempt_id, sequence_id FROM (
         SELECT rollout_id, attempt_id, sequence_id, start_time, MAX(start_time) OVER (
           PARTITION BY rollout_id ORDER BY sequence_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
         ) AS earlier_start FROM ${t('agl_attempts')}) o
       WHERE earlier_start > start_time ORDER BY rollout_id, sequence_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_attempts',
      key: `${r.rollout_id}/${r.attempt_id}`,
      message: `attempt ${r.attempt_id} (sequence ${r.sequence_id}) started before an earlier attempt of rollout ${r.rollout_id}`,
      fix: 'check the clocks of the processes that start attempts',
    }),
  },
  {
    kind: 'unresolved-resources',
    // A rollout may pin resources that are added later, so this is only a warning.
    severity: 'warning',
    repairable: false,
    query: (t) =>
      `SELECT r.rollout_id, r.resources_id FROM ${t('agl_rollouts')} r LEFT JOIN ${t('agl_resources')} x
       ON x.resources_id = r.resources_id WHERE r.resources_id IS NOT NULL AND x.resources_id IS NULL
       ORDER BY r.rollout_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_rollouts',
      key: String(r.rollout_id),
      message: `rollout ${r.rollout_id} pins resources ${r.resources_id}, which are not stored`,
      fix: 'add the resources (addResources) or restore them from a backup before a runner needs them',
    }),
  },
  {
    kind: 'dangling-worker-attempt',
    severity: 'error',
    repairable: false,
    query: (t) =>
      `SELECT w.worker_id, w.current_rollout_id, w.current_attempt_id FROM ${t('agl_workers')} w LEFT JOIN ${t('agl_attempts')} a
       ON a.rollout_id = w.current_rollout_id AND a.attempt_id = w.current_attempt_id
       WHERE w.current_attempt_id IS NOT NULL AND a.attempt_id IS NULL ORDER BY w.worker_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_workers',
      key: String(r.worker_id),
      message: `worker ${r.worker_id} works on attempt ${r.current_attempt_id} of rollout ${r.current_rollout_id}, which does not exist`,
      fix: 'let the worker report again (updateWorker) or restore the attempt from a backup',
    }),
  },
  {
    kind: 'dangling-queue-entry',
    severity: 'error',
    repairable: true,
    query: (t) =>
      `SELECT q.rollout_id, r.status FROM ${t('agl_queue')} q LEFT JOIN ${t('agl_rollouts')} r ON r.rollout_id = q.rollout_id
       WHERE r.rollout_id IS NULL OR r.status NOT IN ('queuing', 'requeuing') ORDER BY q.rollout_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_queue',
      key: String(r.rollout_id),
      message:
        r.status === null || r.status === undefined
          ? `the queue holds rollout ${r.rollout_id}, which does not exist`
          : `the queue holds rollout ${r.rollout_id}, whose status is ${r.status}`,
      fix: 'drop the queue entry (repair does)',
    }),
  },
  {
    kind: 'sequence-counter-behind',
    severity: 'error',
    repairable: true,
    query: (t) =>
      `SELECT m.rollout_id, m.top, c.last_sequence_id FROM
       (SELECT rollout_id, MAX(sequence_id) AS top FROM ${t('agl_spans')} GROUP BY rollout_id) m
       LEFT JOIN ${t('agl_span_sequences')} c ON c.rollout_id = m.rollout_id
       WHERE c.last_sequence_id IS NULL OR c.last_sequence_id < m.top ORDER BY m.rollout_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_span_sequences',
      key: String(r.rollout_id),
      message: `rollout ${r.rollout_id} has a span with sequence id ${r.top}, but its counter is at ${r.last_sequence_id ?? 'none'}: new spans would reuse ids`,
      fix: `raise the counter to ${r.top} (repair does)`,
    }),
  },
  {
    kind: 'stale-rollout-status',
    severity: 'error',
    repairable: true,
    query: (t) =>
      `SELECT r.rollout_id, a.attempt_id, a.status FROM ${t('agl_rollouts')} r JOIN ${t('agl_attempts')} a
       ON a.rollout_id = r.rollout_id AND a.attempt_id = r.latest_attempt_id
       WHERE r.status = 'running' AND a.status IN ${ENDED_ATTEMPT} ORDER BY r.rollout_id LIMIT ?`,
    finding: (r) => ({
      table: 'agl_rollouts',
      key: String(r.rollout_id),
      message: `rollout ${r.rollout_id} is 'running' but its latest attempt ${r.attempt_id} is '${r.status}'`,
      fix: "set the status its latest attempt implies (repair does, with the store's retry rules)",
    }),
  },
];

/** Runs every rollout check; `report` receives each finding; returns the kinds cut at `limit`. */
export async function checkRollouts(
  sql: SqlRunner,
  limit: number,
  report: (finding: Finding, severity: 'error' | 'warning') => void,
): Promise<{ truncated: FindingKind[]; counts: Record<string, number> }> {
  const t = (name: string) => sql.table(name);
  const truncated: FindingKind[] = [];
  for (const check of ROLLOUT_CHECKS) {
    const rows = await sql.all(check.query(t), [limit + 1]);
    if (rows.length > limit) truncated.push(check.kind);
    for (const row of rows.slice(0, limit)) {
      const { table, key, message, fix } = check.finding(row);
      report(
        { kind: check.kind, document: { table, key }, message, fix, repairable: check.repairable },
        check.severity,
      );
    }
  }
  const counts: Record<string, number> = {};
  for (const [name, table] of [
    ['rollouts', 'agl_rollouts'],
    ['attempts', 'agl_attempts'],
    ['spans', 'agl_spans'],
    ['resources', 'agl_resources'],
    ['workers', 'agl_workers'],
  ] as const) {
    const [row] = await sql.all(`SELECT COUNT(*) AS n FROM ${t(table)}`, []);
    counts[name] = Number(row?.n ?? 0);
  }
  return { truncated, counts };
}
