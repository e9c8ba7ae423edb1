/**
 * Retention of scheduled backups (grandfather-father-son): keep the newest `keepLast`, plus the newest
 * backup of each of the last `keepDaily` days and of each of the last `keepWeekly` ISO weeks that have
 * backups (UTC). Everything else made by the schedule is pruned; backups made by hand, and files that
 * cannot be read, are never touched.
 */

/** Options of the retention policy; an omitted option keeps nothing by that rule. */
export interface RetentionPolicy {
  /** Keep the newest N backups. */
  keepLast?: number;
  /** Keep the newest backup of each of the last N days that have one. */
  keepDaily?: number;
  /** Keep the newest backup of each of the last N weeks that have one. */
  keepWeekly?: number;
}

/** Whether the policy keeps anything at all (without a policy, nothing is pruned). */
export function hasRetention(policy: RetentionPolicy): boolean {
  return policy.keepLast !== undefined || policy.keepDaily !== undefined || policy.keepWeekly !== undefined;
}

/** Monday-based ISO week of a UTC time: `2026-W01`. */
function isoWeek(epochMs: number): string {
  const date = new Date(epochMs);
  const day = (date.getUTCDay() + 6) % 7;
  const thursday = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - day + 3);
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** The names to delete among `backups` (created time in epoch ms), by the policy. */
export function toPrune(
  backups: ReadonlyArray<{ name: string; createdAt: number }>,
  policy: RetentionPolicy,
): string[] {
  if (!hasRetention(policy)) return [];
  const newestFirst = [...backups].sort((a, b) => b.createdAt - a.createdAt || b.name.localeCompare(a.name));
  const keep = new Set<string>();
  for (const b of newestFirst.slice(0, policy.keepLast ?? 0)) keep.add(b.name);
  const byBucket = (limit: number | undefined, bucket: (ms: number) => string) => {
    const seen = new Set<string>();
    for (const b of newestFirst) {
      const key = bucket(b.createdAt);
      if (seen.has(key)) continue;
      if (seen.size >= (limit ?? 0)) break;
      seen.add(key);
      keep.add(b.name);
    }
  };
  byBucket(policy.keepDaily, (ms) => new Date(ms).toISOString().slice(0, 10));
  byBucket(policy.keepWeekly, isoWeek);
  return newestFirst.filter((b) => !keep.has(b.name)).map((b) => b.name);
}
