/**
 * `agentstate check [--repair] [--dry-run] [--json]`: the consistency check of the SQLite data or, with
 * --postgres, the PostgreSQL schema. Exit codes: 0 no errors (warnings allowed), 1 failed, 2 bad usage,
 * 5 errors found (after --repair: errors left).
 */
import { ConsistencyChecker, type Finding } from '../../operations/index.ts';
import { parse } from '../args.ts';
import { openCheckStores } from '../backupStores.ts';
import type { Io } from '../output.ts';
import { DEFAULT_DATA_DIR } from '../stores.ts';

/** Help text of `check`. */
export const CHECK_HELP = `Usage: agentstate check [--repair [--dry-run]] [--json] [options]

Check the stored documents and rollouts: values decode, references resolve (attempts -> rollouts, spans ->
attempts, workers -> attempts, session participants -> agents, rollouts -> resources), counters and
revisions are monotone, expired documents were swept, rollout statuses agree with their latest attempt.
--repair fixes what is safe (sweep expired, drop dangling queue entries, raise span counters, re-derive
rollout statuses) and lists every change; --dry-run lists them without writing.

Options:
  --data <dir>          Data directory (default ${DEFAULT_DATA_DIR})
  --postgres <url>      Check the PostgreSQL database instead of the SQLite file
  --postgres-schema <s> PostgreSQL schema (default agentstate)
  --require <ns/id,..>  Documents that must exist
  --repair              Fix the safe findings
  --dry-run             With --repair: list the changes only
  --json                Print the report as JSON
  -h, --help            Show this help

Exit codes: 0 no errors, 1 failed, 2 bad usage, 5 errors found (or left after --repair).`;

const OPTIONS = {
  data: { type: 'string', default: DEFAULT_DATA_DIR },
  postgres: { type: 'string' },
  'postgres-schema': { type: 'string' },
  require: { type: 'string' },
  repair: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function line(severity: string, f: Finding): string {
  const where =
    'table' in f.document
      ? `${f.document.table} ${f.document.key}`
      : `${f.document.namespace}/${f.document.id}`;
  return `${severity} ${f.kind} ${where}: ${f.message} (fix: ${f.fix})`;
}

/** Runs `check`. */
export async function check(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (values.help) {
    io.out(CHECK_HELP);
    return 0;
  }
  const stores = openCheckStores({
    data: values.data,
    postgres: values.postgres,
    postgresSchema: values['postgres-schema'],
  });
  try {
    const required = (values.require ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const at = s.indexOf('/');
        return { namespace: s.slice(0, at), id: s.slice(at + 1) };
      });
    const checker = new ConsistencyChecker({
      store: stores.documents,
      rolloutStore: stores.rollouts,
      sql: { runner: stores.sql, documentsTable: stores.documentsTable },
      required,
    });
    if (values.repair) {
      const repaired = await checker.repair({ dryRun: values['dry-run'] });
      const after = repaired.dryRun ? repaired.report : await checker.check();
      if (values.json) io.out(JSON.stringify({ ...repaired, after }));
      else {
        for (const c of repaired.changes) {
          const where =
            'table' in c.document
              ? `${c.document.table} ${c.document.key}`
              : `${c.document.namespace}/${c.document.id}`;
          io.out(`${repaired.dryRun ? 'would' : 'did'} ${c.action}: ${where} (${c.kind})`);
        }
        for (const c of repaired.skipped) io.out(`skipped ${c.kind}: ${c.action}`);
        for (const f of after.errors) io.out(line('error', f));
        io.out(
          `${repaired.changes.length} change(s)${repaired.dryRun ? ' planned' : ' made'}; ${after.errors.length} error(s) left`,
        );
      }
      return after.errors.length > 0 ? 5 : 0;
    }
    const report = await checker.check();
    if (values.json) io.out(JSON.stringify(report));
    else {
      for (const f of report.errors) io.out(line('error', f));
      for (const f of report.warnings) io.out(line('warning', f));
      const counts = Object.entries(report.counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      io.out(`${report.errors.length} error(s), ${report.warnings.length} warning(s); checked ${counts}`);
    }
    return report.errors.length > 0 ? 5 : 0;
  } finally {
    await stores.close();
  }
}
