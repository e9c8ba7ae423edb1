/**
 * `agentstate backup create --raw <file>` (also `backup <file>`) and `agentstate restore <file>` (also
 * `backup restore --raw <file>`): the page copy of the embedded SQLite file. Logical backups of any store
 * are ./backups.ts.
 *
 * Backup uses SQLite's online backup API: it copies a consistent snapshot page by page while the server
 * keeps running (WAL readers never block it), with a progress bar. Restore checks the file (integrity
 * check and the expected tables), refuses to run while the database is open, keeps the current
 * database aside as `agentstate.db.before-restore-<time>` (nothing is ever overwritten), and moves the
 * restored copy into place atomically.
 */

import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { AgentStateError, CorruptStateError, InvalidInputError, NotFoundError } from '../../errors.ts';
import { parse } from '../args.ts';
import { type Io, progress } from '../output.ts';
import { DEFAULT_DATA_DIR, databasePath } from '../stores.ts';

/** Help text of the raw page copy, `backup create --raw <file>` (also `backup <file>`). */
export const RAW_BACKUP_HELP = `Usage: agentstate backup create --raw <file> [--data DIR] [--json]

Copy a consistent snapshot of the SQLite data (documents and rollouts) to <file>. Safe while the
server runs. Shows a progress bar on a terminal.

Options:
  --data <dir>    Data directory (default ${DEFAULT_DATA_DIR})
  --force         Overwrite <file> if it exists
  --json          Print the result as JSON
  -h, --help      Show this help`;

/** Help text of `restore`. */
export const RESTORE_HELP = `Usage: agentstate restore <file> [--data DIR] [--json]

Replace the SQLite data with a backup made by 'agentstate backup'. Stop the server first. The current
database is kept aside as agentstate.db.before-restore-<time>.

Options:
  --data <dir>    Data directory (default ${DEFAULT_DATA_DIR})
  --force         Restore even if the database looks open (a server may be running)
  --json          Print the result as JSON
  -h, --help      Show this help`;

const OPTIONS = {
  data: { type: 'string', default: DEFAULT_DATA_DIR },
  force: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Tables a backup must contain to be restorable. */
const REQUIRED_TABLES = ['agentstate_documents'];

/** Runs the raw page copy. */
export async function rawBackup(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    io.out(RAW_BACKUP_HELP);
    return 0;
  }
  const [file] = positionals;
  if (!file) throw new InvalidInputError('backup needs a target file', { argument: 'file' });
  const source = databasePath(resolve(values.data));
  if (!existsSync(source))
    throw new NotFoundError(`no database at ${source}; check --data`, { path: source });
  const target = resolve(file);
  if (existsSync(target) && !values.force) {
    throw new AgentStateError('ALREADY_EXISTS', `${target} exists; pass --force to overwrite it`, {
      path: target,
    });
  }
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  await rm(partial, { force: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  const bar = progress(io, !values.json, 'backup');
  const started = Date.now();
  try {
    const result = await db.backup(partial, {
      progress({ totalPages, remainingPages }) {
        bar.update(totalPages - remainingPages, totalPages);
        // Pages per step: large enough to be quick, small enough to keep the bar moving.
        return 256;
      },
    });
    bar.stop();
    await rename(partial, target);
    const bytes = (await stat(target)).size;
    const summary = { file: target, source, pages: result.totalPages, bytes, ms: Date.now() - started };
    io.out(
      values.json
        ? JSON.stringify(summary)
        : `backed up ${source} to ${target} (${bytes} bytes, ${summary.ms} ms)`,
    );
    return 0;
  } catch (error) {
    bar.stop();
    await rm(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
}

/** Checks that a file is an intact agentstate SQLite database. */
function verifyBackup(file: string): { tables: string[] } {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new CorruptStateError(`${file} is not a SQLite database`, { path: file }, { cause: error });
  }
  try {
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok')
      throw new CorruptStateError(`${file} fails SQLite's integrity check: ${String(check)}`, { path: file });
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    ).map((r) => r.name);
    const missing = REQUIRED_TABLES.filter((t) => !tables.includes(t));
    if (missing.length > 0) {
      throw new InvalidInputError(
        `${file} is not an agentstate backup (missing tables ${missing.join(', ')})`,
        {
          path: file,
          missing,
        },
      );
    }
    return { tables };
  } catch (error) {
    if (error instanceof AgentStateError) throw error;
    throw new CorruptStateError(
      `${file} is not a readable SQLite database`,
      { path: file },
      { cause: error },
    );
  } finally {
    db.close();
  }
}

/** Runs `restore`. */
export async function restore(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    io.out(RESTORE_HELP);
    return 0;
  }
  const [file] = positionals;
  if (!file) throw new InvalidInputError('restore needs a backup file', { argument: 'file' });
  const from = resolve(file);
  if (!existsSync(from)) throw new NotFoundError(`no backup at ${from}`, { path: from });
  const { tables } = verifyBackup(from);
  const target = databasePath(resolve(values.data));
  // An open WAL database has its -shm file; a server still running would keep writing to the old file.
  if (existsSync(`${target}-shm`) && !values.force) {
    throw new AgentStateError(
      'FORBIDDEN',
      `${target} looks open (a server may be running); stop it first, or pass --force if it crashed`,
      { path: target },
    );
  }
  await mkdir(dirname(target), { recursive: true });
  const staged = `${target}.restoring`;
  const bar = progress(io, !values.json, 'restore');
  bar.update(0, 1);
  await copyFile(from, staged);
  bar.update(1, 1);
  bar.stop();
  let keptAside: string | null = null;
  if (existsSync(target)) {
    keptAside = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(target, keptAside);
    // The WAL may hold commits not yet in the main file: it moves with it, so the old copy stays whole.
    if (existsSync(`${target}-wal`)) await rename(`${target}-wal`, `${keptAside}-wal`);
  }
  await rm(`${target}-shm`, { force: true });
  await rename(staged, target);
  const summary = { restored: target, from, tables, previous: keptAside };
  io.out(
    values.json
      ? JSON.stringify(summary)
      : `restored ${target} from ${from}${keptAside ? `; the previous database is kept at ${keptAside}` : ''}`,
  );
  return 0;
}
