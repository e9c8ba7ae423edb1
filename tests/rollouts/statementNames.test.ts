// Prepared-statement names of the PostgreSQL rollout store are bounded: a buffered flush joins whatever
// writes met in one transaction, and every distinct combination is a new statement text.
import type { QueryConfig } from 'pg';
import { describe, expect, it } from 'vitest';
import {
  BufferedWrites,
  MAX_NAMED_STATEMENTS,
  PostgresRolloutRepository,
  type Queryable,
} from '../../src/rollouts/postgres/repository.ts';

describe('postgres rollout repository: statement names', () => {
  it('names at most MAX_NAMED_STATEMENTS texts; later new combinations are sent unnamed', async () => {
    const repo = new PostgresRolloutRepository('names_test');
    const sent: QueryConfig[] = [];
    const q: Queryable = {
      query: async (config) => {
        sent.push(config);
        return { rows: [], rowCount: 0 };
      },
    };
    const first = repo.statementName('SELECT 1');
    for (let i = 0; i < MAX_NAMED_STATEMENTS * 3; i++) {
      // Two writes whose combination differs every time (as the writes of a group commit do).
      const buffer = new BufferedWrites(q, (text) => repo.statementName(text));
      await buffer.add([`a${i}`], `UPDATE t SET a = $1 WHERE k = ${i % 40}`, [1]);
      await buffer.add([`b${i}`], `UPDATE t SET b = $1 WHERE k = ${Math.floor(i / 40)}`, [2]);
      await buffer.flush();
    }
    expect(sent).toHaveLength(MAX_NAMED_STATEMENTS * 3);
    expect(repo.namedStatements).toBe(MAX_NAMED_STATEMENTS);
    expect(sent.filter((c) => c.name !== undefined)).toHaveLength(MAX_NAMED_STATEMENTS - 1);
    expect(sent.at(-1)).toEqual({ text: sent.at(-1)!.text, values: [1, 2] });
    // Texts named before keep their name.
    expect(repo.statementName('SELECT 1')).toBe(first);
  });
});
