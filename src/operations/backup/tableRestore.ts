/**
 * Restores rollout-table sections through a small SQL runner, so SQLite and PostgreSQL share the rules.
 * The caller holds the transaction; this only issues statements inside it. Inserts go in multi-row
 * statements capped by rows and bytes (bounded statement size); merge compares each row by its key.
 */
import type { JsonValue } from '../../codec/index.ts';
import { CorruptStateError } from '../../errors.ts';
import type { SqlRunner } from '../sql.ts';
import type { SectionEntry } from './format.ts';
import { portableRow, type RolloutTable, rolloutTable, rowKey, rowValues, sameRow } from './rolloutTables.ts';
import type { RestorePlan, SourceRestoreResult } from './source.ts';

/** Most rows and bytes of one multi-row INSERT. */
const INSERT_ROWS = 500;
const INSERT_BYTES = 4 * 1024 * 1024;

/** The table of a section; CORRUPT_STATE when the backup names a table this version does not know. */
export function tableOf(plan: RestorePlan, section: SectionEntry): RolloutTable {
  const table = rolloutTable(section.collection);
  if (!table) {
    throw new CorruptStateError(
      `backup ${plan.backup} section ${section.name} names an unknown rollout table`,
      {
        backup: plan.backup,
        section: section.name,
        reason: 'unknown-table',
      },
    );
  }
  return table;
}

/** Applies the table sections of a plan through `sql`; the caller commits or rolls back. */
export async function restoreTables(
  sql: SqlRunner,
  plan: RestorePlan,
  result: SourceRestoreResult,
): Promise<void> {
  const tables = plan.sections.map((s) => [s, tableOf(plan, s)] as const);
  if (plan.mode === 'replace') {
    // Children first is not needed (no foreign keys), but clearing everything before writing keeps replace
    // independent of the order sections appear in.
    for (const [, table] of tables)
      result.deleted += await sql.run(`DELETE FROM ${sql.table(table.name)}`, []);
  }
  for (const [section, table] of tables) {
    const insert = batchInserter(sql, table);
    const where = table.key.map((c) => `${c} = ?`).join(' AND ');
    const columns = table.columns.map(([c]) => c).join(', ');
    for await (const raw of plan.records(section)) {
      plan.onRecord?.();
      const record = raw as Record<string, JsonValue>;
      if (!record || typeof record !== 'object' || table.key.some((k) => typeof record[k] !== 'string')) {
        throw new CorruptStateError(`backup ${plan.backup} section ${section.name} holds a malformed row`, {
          backup: plan.backup,
          section: section.name,
          reason: 'bad-record',
        });
      }
      if (plan.mode === 'merge') {
        const keyValues = table.key.map((k) => record[k]);
        const [current] = await sql.all(
          `SELECT ${columns} FROM ${sql.table(table.name)} WHERE ${where}`,
          keyValues,
        );
        if (current) {
          if (sameRow(table, portableRow(table, current), record)) {
            result.unchanged++;
            continue;
          }
          result.conflicts.push({
            section: section.name,
            key: rowKey(table, record),
            overwritten: plan.overwrite,
          });
          if (!plan.overwrite) continue;
          await sql.run(`DELETE FROM ${sql.table(table.name)} WHERE ${where}`, keyValues);
        }
      }
      await insert.add(record);
      result.written++;
    }
    await insert.flush();
  }
}

/** Collects rows and writes them in multi-row INSERTs. */
function batchInserter(sql: SqlRunner, table: RolloutTable) {
  const columns = table.columns.map(([c]) => c);
  const one = `(${columns.map(() => '?').join(', ')})`;
  let params: unknown[] = [];
  let rows = 0;
  let bytes = 0;
  const flush = async () => {
    if (rows === 0) return;
    await sql.run(
      `INSERT INTO ${sql.table(table.name)} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => one).join(', ')}`,
      params,
    );
    params = [];
    rows = 0;
    bytes = 0;
  };
  return {
    async add(record: Record<string, JsonValue>) {
      const values = rowValues(table, record);
      for (const v of values) if (typeof v === 'string') bytes += v.length;
      params.push(...values);
      rows++;
      if (rows >= INSERT_ROWS || bytes >= INSERT_BYTES) await flush();
    },
    flush,
  };
}
