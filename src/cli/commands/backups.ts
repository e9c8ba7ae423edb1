/**
 * `agentstate backup create|list|verify|restore|delete`: logical backups (see docs/backups.md) of the
 * SQLite data or, with --postgres, the PostgreSQL schema. `backup create --raw <file>` (and the older
 * `backup <file>`) is SQLite's page copy, `backup restore --raw <file>` its restore.
 *
 * Exit codes: 0 done; 1 failed; 2 bad usage; 3 no such backup; 4 the backup is corrupt, truncated or of a
 * newer format; 5 restore done but records that differ were kept (merge conflicts).
 */
import { resolve } from 'node:path';
import { InvalidInputError, isAgentStateError } from '../../errors.ts';
import {
  type BackupInfo,
  BackupManager,
  type BackupProgress,
  type RestoreMode,
} from '../../operations/index.ts';
import { parse } from '../args.ts';
import { backupDir, openBackupSource } from '../backupStores.ts';
import { type Io, table, transferProgress } from '../output.ts';
import { DEFAULT_DATA_DIR } from '../stores.ts';
import { rawBackup, restore as rawRestore } from './backup.ts';

/** Help text of `backup`. */
export const BACKUP_HELP = `Usage: agentstate backup <create|list|verify|restore|delete> [name] [options]

Logical backups of every document and rollout table: one compressed file per backup, with a checksum per
section; restores verify the whole file first and never leave the data half restored.

  backup create [name]      Write a backup (default name backup-<UTC time>)
  backup list               List the backups in the backup directory
  backup verify <name>      Recompute every checksum; names the first bad section
  backup restore <name>     Restore (stop the server first for SQLite)
  backup delete <name>      Delete a backup
  backup create --raw <file>   SQLite page copy of the database file (fastest; SQLite only)
  backup restore --raw <file>  Restore such a copy

Options:
  --data <dir>          Data directory (default ${DEFAULT_DATA_DIR})
  --postgres <url>      Use the PostgreSQL database instead of the SQLite file
  --postgres-schema <s> PostgreSQL schema (default agentstate)
  --dir <dir>           Backup directory (default <data>/backups)
  --only <names>        Comma-separated namespaces or rollout tables (create, restore)
  --mode <mode>         restore: replace (default) or merge
  --overwrite           restore --mode merge: overwrite records that differ (default: report and keep)
  --force               with --raw: overwrite the file / restore over an open-looking database
  --json                Print the result as JSON
  -h, --help            Show this help

Exit codes: 0 done, 1 failed, 2 bad usage, 3 no such backup, 4 corrupt or unsupported backup,
5 restored with merge conflicts kept.`;

const OPTIONS = {
  data: { type: 'string', default: DEFAULT_DATA_DIR },
  postgres: { type: 'string' },
  'postgres-schema': { type: 'string' },
  dir: { type: 'string' },
  only: { type: 'string' },
  mode: { type: 'string', default: 'replace' },
  overwrite: { type: 'boolean', default: false },
  raw: { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const SUBCOMMANDS = new Set(['create', 'list', 'verify', 'restore', 'delete']);

/** Exit code of a failed backup command. */
function exitCode(error: unknown): number {
  if (!isAgentStateError(error)) return 1;
  if (error.code === 'NOT_FOUND') return 3;
  if (error.code === 'CORRUPT_STATE') return 4;
  if (error.code === 'INVALID_INPUT') return 'formatVersion' in error.details ? 4 : 2;
  return 1;
}

/** Runs `backup`. */
export async function backup(argv: string[], io: Io): Promise<number> {
  const [first] = argv;
  // The older form `backup <file>` is the raw page copy.
  if (first === undefined || !SUBCOMMANDS.has(first)) {
    if (first === undefined || first === '--help' || first === '-h') {
      io.out(BACKUP_HELP);
      return first === undefined ? 2 : 0;
    }
    return rawBackup(argv, io);
  }
  const rest = argv.slice(1);
  const { values, positionals } = parse(rest, OPTIONS);
  if (values.help) {
    io.out(BACKUP_HELP);
    return 0;
  }
  if (values.raw) {
    const passOn = rest.filter((a) => a !== '--raw');
    if (first === 'create') return rawBackup(passOn, io);
    if (first === 'restore') return rawRestore(passOn, io);
  }
  const location = {
    data: values.data,
    postgres: values.postgres,
    postgresSchema: values['postgres-schema'],
  };
  const { source, close } = openBackupSource(location);
  const manager = new BackupManager({ dir: backupDir(location, values.dir), sources: [source] });
  const only = values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const name = positionals[0];
  const bar = transferProgress(io, !values.json, `backup ${first}`);
  const onProgress = (p: BackupProgress) => bar.update(p);
  const print = (result: unknown, text: string) => io.out(values.json ? JSON.stringify(result) : text);
  try {
    switch (first) {
      case 'create': {
        const info = await manager.create({
          ...(name ? { name } : {}),
          ...(only ? { only } : {}),
          onProgress,
        });
        bar.stop();
        print(
          info,
          `created ${info.name}: ${info.records} records in ${info.sections.length} sections, ${info.bytes} bytes (${info.file})`,
        );
        return 0;
      }
      case 'list': {
        const { backups, unreadable } = await manager.list();
        if (values.json) io.out(JSON.stringify({ backups, unreadable }));
        else {
          table(
            io,
            backups.map((b: BackupInfo) => ({
              name: b.name,
              created: b.createdAt,
              records: b.records,
              bytes: b.bytes,
              sources: b.sources.join(','),
            })),
            ['name', 'created', 'records', 'bytes', 'sources'],
          );
          for (const u of unreadable) io.err(`unreadable: ${u.name} (${u.error.code}: ${u.error.message})`);
        }
        return 0;
      }
      case 'verify': {
        const info = await manager.verify(required(name), { onProgress });
        bar.stop();
        print(
          { ok: true, ...info },
          `${info.name} is intact: ${info.records} records in ${info.sections.length} sections`,
        );
        return 0;
      }
      case 'restore': {
        const mode = values.mode as RestoreMode;
        const result = await manager.restore(required(name), {
          mode,
          overwrite: values.overwrite,
          ...(only ? { only } : {}),
          onProgress,
        });
        bar.stop();
        const counts = result.sources
          .map((s) => `${s.source}: ${s.written} written, ${s.deleted} removed, ${s.unchanged} unchanged`)
          .join('; ');
        print(
          result,
          `restored ${result.backup} (${mode}) into ${source.backend} ${location.postgres ? '' : resolve(location.data)}: ${counts}`,
        );
        for (const c of values.json ? [] : result.conflicts) {
          io.err(
            `conflict ${c.section} ${c.key}${c.backupRevision !== undefined ? ` (backup revision ${c.backupRevision}, current ${c.currentRevision})` : ''}: ${c.overwritten ? 'overwritten' : 'kept'}`,
          );
        }
        return result.conflicts.some((c) => !c.overwritten) ? 5 : 0;
      }
      default: {
        const deleted = await manager.delete(required(name));
        print({ deleted, name }, deleted ? `deleted ${name}` : `no backup named ${name}`);
        return deleted ? 0 : 3;
      }
    }
  } catch (error) {
    bar.stop();
    if (!isAgentStateError(error)) throw error;
    if (values.json) io.err(JSON.stringify({ error: error.toJSON() }));
    else io.err(`error (${error.code}): ${error.message}`);
    return exitCode(error);
  } finally {
    await close();
  }
}

function required(name: string | undefined): string {
  if (!name) throw new InvalidInputError('this backup command needs a backup name', { argument: 'name' });
  return name;
}
