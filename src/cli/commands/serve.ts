/** `agentstate serve`: the HTTP server on SQLite (default) or PostgreSQL, with graceful shutdown. */
import { resolve } from 'node:path';
import { errorMessage, InvalidInputError } from '../../errors.ts';
import {
  BackupManager,
  type BackupScheduler,
  ConsistencyChecker,
  LatestConsistencyCheck,
} from '../../operations/index.ts';
import {
  checkCorsNeedsTokens,
  connectionTimeouts,
  createServer,
  DEFAULT_PORT,
  DEFAULT_SLOW_REQUEST_MS,
  listenServer,
  logBackgroundErrors,
  normalizeCorsOrigins,
  PostgresEventRelay,
  PostgresIdempotencyRecords,
  parseTokenArgument,
  readTokensFile,
  type TokenSpec,
} from '../../server/index.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../../shared/backgroundErrors.ts';
import { capOption, definedOnly, intOption, parse } from '../args.ts';
import { backupDir, type DataLocation, openBackupSource, openCheckStores } from '../backupStores.ts';
import type { Io } from '../output.ts';
import { DEFAULT_DATA_DIR, openStores } from '../stores.ts';

/** Help text of `serve`. */
export const SERVE_HELP = `Usage: agentstate serve [options]

Start the HTTP server: the Agent Lightning store API (/v1/agl), OTLP traces (/v1/traces),
documents (/v1/state), TTL signals and locks (/v1/ttl), sessions (/v1/sessions), /health
(/health/live, and /health/ready: database reachable, schema applied), /metrics and /openapi.json.
Any number of servers may share one --postgres database (and --redis); see docs/scale-out.md.

Options:
  --port <n>           Port (default ${DEFAULT_PORT}; 0 = any free port)
  --host <addr>        Interface (default 127.0.0.1)
  --data <dir>         Data directory for SQLite (default ${DEFAULT_DATA_DIR})
  --postgres <url>     Keep documents and rollouts in PostgreSQL instead (many servers can share it)
  --postgres-schema <s> PostgreSQL schema (default agentstate)
  --postgres-pool <n>  Connections of the rollout store's pool (default 24, at least 3; plus one for
                       LISTEN). With several servers on one database, keep their sum under its
                       max_connections
  --postgres-commits <n> Group-commit batches of the rollout store committing at once (default 4):
                       fewer make bigger batches, more keep writes moving past slow ones
  --config <file>      Persistence config (.yaml/.yml/.json): documents (/v1/state) and sessions go
                       through its routing rules and backends; /metrics and 'agentstate status'
                       then include the persistence report
  --redis <url>        Keep TTL signals, locks and cooldowns (/v1/ttl) in Redis (default: memory)
  --token <t[:scope]>  Bearer token, repeatable; scope read, write or admin (default admin)
  --tokens-file <f>    Tokens file: JSON [{token, scope, name}] or lines "token scope name"
  --insecure           Allow a non-loopback --host, or --cors-origin, without tokens
  --cors-origin <url>  Let browser pages of this origin call the server (CORS), repeatable, or * for any
                       origin (default: off). Tokens still apply; see docs/agent-lightning.md
  --max-dequeue <n>    Most rollouts one dequeue call returns (default 1000)
  --statement-timeout-ms <n>
                       With --postgres: cancel a statement running longer (default 60000; 0 = none)
  --max-waits <n>      Long-poll waits (/v1/agl/waits/rollouts) open at once (default 10000)
  --max-waits-per-token <n>
                       Long-poll waits open at once per token (default 1000)
  --idempotency-max-entries <n>
                       Idempotency-Key answers kept in memory, and with --postgres in its
                       table shared by the servers (default 20000)
  --idempotency-max-bytes <n>
                       Bytes of Idempotency-Key answers kept (default 67108864, 64 MiB)
  --idempotency-ttl-ms <n>
                       How long an Idempotency-Key answer is kept (default 600000)
  --idempotency-lease-ms <n>
                       With --postgres: how long a server that died mid-request holds its
                       Idempotency-Key before another server may run a retry (default 10000)
                       (all caps: see docs/limits.md)
  --headers-timeout-ms <n>
                       Time to receive a request's headers (default 30000); slower: 408, closed
  --request-timeout-ms <n>
                       Time to receive a whole request, body included (default 120000)
  --keep-alive-timeout-ms <n>
                       Close a keep-alive connection idle this long (default 72000)
  --send-timeout-ms <n>
                       Close a connection whose client takes no byte of its response this
                       long (default 60000)
  --connections-check-ms <n>
                       How often those timeouts are checked (default 1000)
  --max-connections <n>
                       Most connections open at once; more are closed on arrival (default: no cap)
                       (timeouts: 0 = none; see docs/server.md)
  --log-level <lvl>    fatal, error, warn, info (default), debug, trace; requests are logged
                       at debug, slow ones at warn and failures (5xx) at error, one line each
  --slow-ms <n>        Log requests taking n ms or longer at warn (default ${DEFAULT_SLOW_REQUEST_MS})
  --backup-every <d>   Back up the data every <d> (e.g. 30m, 1h, 1d) while serving
  --backup-cron <expr> Or on a cron expression (UTC), e.g. "0 3 * * *"
  --backup-dir <dir>   Directory of scheduled backups (default <data>/backups); also alone, so the
                       dashboard's Backups page lists the backups there
  --backup-keep <n>    Keep the newest n scheduled backups (default: keep all)
  --json               Print the start-up line as JSON ({"listening": url, ...})
  -h, --help           Show this help

SIGINT/SIGTERM stop the server gracefully: requests in flight finish, then the stores close.`;

/** `30m`, `1h`, `1d`, `90s`, `500ms` or plain milliseconds, to milliseconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m)
    throw new InvalidInputError(`--${option} must be a duration such as 30m, 1h or 1d, got '${text}'`, {
      option,
    });
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * unit;
}

/** Starts scheduled backups when --backup-every or --backup-cron is given; undefined otherwise. */
function startBackups(
  values: {
    data: string;
    postgres?: string | undefined;
    'postgres-schema'?: string | undefined;
    'backup-every'?: string | undefined;
    'backup-cron'?: string | undefined;
    'backup-dir'?: string | undefined;
    'backup-keep'?: string | undefined;
  },
  io: Io,
  onError: BackgroundErrorHandler,
): { stop(): Promise<void> } | undefined {
  const every = values['backup-every'];
  const cron = values['backup-cron'];
  if (every === undefined && cron === undefined) {
    if (values['backup-keep'] !== undefined) {
      throw new InvalidInputError('--backup-keep needs --backup-every or --backup-cron', {
        option: 'backup-every',
      });
    }
    return undefined;
  }
  const location = {
    data: resolve(values.data),
    postgres: values.postgres,
    postgresSchema: values['postgres-schema'],
  };
  const keep =
    values['backup-keep'] === undefined ? undefined : intOption(values['backup-keep'], 'backup-keep', 0);
  const opened = openBackupSource(location);
  const manager = new BackupManager({
    dir: backupDir(location, values['backup-dir']),
    sources: [opened.source],
  });
  let scheduler: BackupScheduler;
  try {
    scheduler = manager.schedule({
      ...(every !== undefined ? { intervalMs: parseDuration(every, 'backup-every') } : { cron: cron! }),
      ...(keep !== undefined ? { keepLast: keep } : {}),
      onError,
      onBackup: (info, pruned) =>
        io.err(
          `backup ${info.name}: ${info.records} records, ${info.bytes} bytes${pruned.length ? `; pruned ${pruned.join(', ')}` : ''}`,
        ),
    });
  } catch (error) {
    void opened.close();
    throw error;
  }
  return {
    async stop() {
      await scheduler.stop();
      await opened.close();
    },
  };
}

/** Findings per kind a report of the server's consistency check keeps (the CLI's `check` keeps 1000). */
const SERVE_CHECK_MAX_FINDINGS = 100;

/**
 * What `/v1/operations` reads: the backup directory (listed when --backup-dir or a schedule is given) and a
 * consistency check of the data as `agentstate check` does it, on connections opened for each run and
 * closed after it, so an idle server holds nothing for it.
 */
function operationsOf(
  values: {
    'backup-dir'?: string | undefined;
    'backup-every'?: string | undefined;
    'backup-cron'?: string | undefined;
  },
  location: DataLocation,
) {
  const listed =
    values['backup-dir'] !== undefined ||
    values['backup-every'] !== undefined ||
    values['backup-cron'] !== undefined;
  return {
    ...(listed
      ? { backups: new BackupManager({ dir: backupDir(location, values['backup-dir']), sources: [] }) }
      : {}),
    consistency: new LatestConsistencyCheck(async () => {
      const stores = openCheckStores(location);
      try {
        return await new ConsistencyChecker({
          store: stores.documents,
          rolloutStore: stores.rollouts,
          sql: { runner: stores.sql, documentsTable: stores.documentsTable },
          maxFindings: SERVE_CHECK_MAX_FINDINGS,
        }).check();
      } finally {
        await stores.close();
      }
    }),
  };
}

/** Runs `serve` until a signal stops it; resolves with the exit code. */
export async function serve(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string', default: DEFAULT_DATA_DIR },
    postgres: { type: 'string' },
    'postgres-schema': { type: 'string' },
    'postgres-pool': { type: 'string' },
    'postgres-commits': { type: 'string' },
    redis: { type: 'string' },
    config: { type: 'string' },
    token: { type: 'string', multiple: true },
    'tokens-file': { type: 'string' },
    insecure: { type: 'boolean', default: false },
    'cors-origin': { type: 'string', multiple: true },
    'max-dequeue': { type: 'string' },
    'statement-timeout-ms': { type: 'string' },
    'max-waits': { type: 'string' },
    'max-waits-per-token': { type: 'string' },
    'idempotency-max-entries': { type: 'string' },
    'idempotency-max-bytes': { type: 'string' },
    'idempotency-ttl-ms': { type: 'string' },
    'idempotency-lease-ms': { type: 'string' },
    'headers-timeout-ms': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'keep-alive-timeout-ms': { type: 'string' },
    'send-timeout-ms': { type: 'string' },
    'connections-check-ms': { type: 'string' },
    'max-connections': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    'backup-every': { type: 'string' },
    'backup-cron': { type: 'string' },
    'backup-dir': { type: 'string' },
    'backup-keep': { type: 'string' },
    'slow-ms': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  if (values.token && values['tokens-file']) {
    throw new InvalidInputError('give either --token or --tokens-file, not both', { option: 'token' });
  }
  const tokens: TokenSpec[] = values['tokens-file']
    ? await readTokensFile(values['tokens-file'])
    : (values.token ?? []).map(parseTokenArgument);
  const port = intOption(values.port, 'port', DEFAULT_PORT);
  // The caps of docs/limits.md, checked before any store opens.
  const cap = (name: keyof typeof values, min = 1): number | undefined =>
    capOption(values[name] as string | undefined, name, min);
  const caps = {
    maxDequeuePerCall: cap('max-dequeue'),
    statementTimeoutMs: cap('statement-timeout-ms', 0),
    maxWaits: cap('max-waits'),
    maxWaitsPerToken: cap('max-waits-per-token'),
    idempotencyMaxEntries: cap('idempotency-max-entries'),
    idempotencyMaxBytes: cap('idempotency-max-bytes'),
    idempotencyTtlMs: cap('idempotency-ttl-ms'),
    idempotencyLeaseMs: cap('idempotency-lease-ms'),
    headersTimeoutMs: cap('headers-timeout-ms', 0),
    requestTimeoutMs: cap('request-timeout-ms', 0),
    keepAliveTimeoutMs: cap('keep-alive-timeout-ms', 0),
    sendTimeoutMs: cap('send-timeout-ms', 0),
    connectionsCheckingIntervalMs: cap('connections-check-ms'),
    maxConnections: cap('max-connections'),
  };
  if (caps.statementTimeoutMs !== undefined && values.postgres === undefined) {
    throw new InvalidInputError('--statement-timeout-ms applies to PostgreSQL: give --postgres too', {
      option: 'statement-timeout-ms',
    });
  }
  if (caps.idempotencyLeaseMs !== undefined && values.postgres === undefined) {
    throw new InvalidInputError('--idempotency-lease-ms applies to PostgreSQL: give --postgres too', {
      option: 'idempotency-lease-ms',
    });
  }
  // The timeouts checked before any store opens (a headers timeout longer than the request's is refused).
  connectionTimeouts(
    definedOnly({ headersTimeoutMs: caps.headersTimeoutMs, requestTimeoutMs: caps.requestTimeoutMs }),
  );
  const slowMs = intOption(values['slow-ms'], 'slow-ms', DEFAULT_SLOW_REQUEST_MS);
  // Checked before any store opens, so a mistyped origin leaves nothing to close.
  const corsOrigins = normalizeCorsOrigins(values['cors-origin'] ?? []);
  checkCorsNeedsTokens(corsOrigins, tokens.length > 0, values.insecure);

  const poolSize =
    values['postgres-pool'] === undefined
      ? undefined
      : intOption(values['postgres-pool'], 'postgres-pool', 24);
  const concurrentCommits = capOption(values['postgres-commits'], 'postgres-commits', 1);
  // The stores open before the server exists, so their background errors go to a process warning until
  // the server's log takes over.
  let serverLog: BackgroundErrorHandler | undefined;
  const onError: BackgroundErrorHandler = (error, context) =>
    reportBackgroundError(serverLog, error, context);
  const stores = await openStores({
    onError,
    data: resolve(values.data),
    postgres: values.postgres,
    postgresSchema: values['postgres-schema'],
    postgresPoolSize: poolSize,
    postgresConcurrentCommits: concurrentCommits,
    redis: values.redis,
    config: values.config === undefined ? undefined : resolve(values.config),
    maxDequeuePerCall: caps.maxDequeuePerCall,
    statementTimeoutMs: caps.statementTimeoutMs,
  });
  const app = await createServer({
    rollouts: stores.rollouts,
    documents: stores.documents,
    ttl: stores.ttl,
    sessions: stores.sessions,
    ...(stores.monitor && { monitor: stores.monitor }),
    // Dashboards connected to any of the servers sharing the schema see every server's changes.
    ...(values.postgres
      ? {
          events: new PostgresEventRelay({
            onError,
            connectionString: values.postgres,
            schema: values['postgres-schema'] ?? 'agentstate',
          }),
        }
      : {}),
    // Idempotency-Key answers in a table every server of the schema sees: a client's retry on another
    // server replays the first answer instead of writing twice.
    ...(values.postgres
      ? {
          idempotencyRecords: new PostgresIdempotencyRecords({
            connectionString: values.postgres,
            schema: values['postgres-schema'] ?? 'agentstate',
            ...definedOnly({ statementTimeoutMs: caps.statementTimeoutMs }),
          }),
        }
      : {}),
    operations: operationsOf(values, {
      data: resolve(values.data),
      postgres: values.postgres,
      postgresSchema: values['postgres-schema'],
    }),
    tokens,
    corsOrigins,
    insecure: values.insecure,
    ...definedOnly({
      maxWaits: caps.maxWaits,
      maxWaitsPerToken: caps.maxWaitsPerToken,
      idempotencyMaxEntries: caps.idempotencyMaxEntries,
      idempotencyMaxBytes: caps.idempotencyMaxBytes,
      idempotencyTtlMs: caps.idempotencyTtlMs,
      idempotencyLeaseMs: caps.idempotencyLeaseMs,
      headersTimeoutMs: caps.headersTimeoutMs,
      requestTimeoutMs: caps.requestTimeoutMs,
      keepAliveTimeoutMs: caps.keepAliveTimeoutMs,
      sendTimeoutMs: caps.sendTimeoutMs,
      connectionsCheckingIntervalMs: caps.connectionsCheckingIntervalMs,
      maxConnections: caps.maxConnections,
    }),
    logger: { level: values['log-level'] },
    slowRequestMs: slowMs,
    closeStores: true,
  });
  serverLog = logBackgroundErrors(app.log);
  let address: string;
  let backups: Awaited<ReturnType<typeof startBackups>>;
  try {
    backups = startBackups(values, io, onError);
    address = await listenServer(app, { host: values.host, port, insecure: values.insecure });
  } catch (error) {
    await app.close();
    throw error;
  }
  if (values.json) {
    io.out(JSON.stringify({ listening: address, stores: stores.description, tokens: tokens.length }));
  } else {
    const auth = tokens.length > 0 ? `${tokens.length} token(s)` : 'no tokens: loopback only';
    const cors = corsOrigins.length > 0 ? `, CORS for ${corsOrigins.join(' ')}` : '';
    io.out(`agentstate listening on ${address} (${auth}${cors})`);
    io.out(`data: ${stores.description}`);
    io.out(`dashboard: ${address}/`);
  }

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (reason: string) => {
      if (stopping) {
        // A second signal: stop waiting for requests in flight.
        io.err('forced exit');
        process.exit(130);
      }
      stopping = true;
      io.err(`${reason}: finishing requests in flight, then closing the stores`);
      // A scheduled backup in progress finishes first, so no partial file is left behind.
      Promise.resolve(backups?.stop())
        .then(() => app.close())
        .then(resolveStop, (error: unknown) => {
          io.err(`error while closing: ${errorMessage(error)}`);
          resolveStop();
        });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    signal?.addEventListener('abort', () => stop('stop requested'), { once: true });
  });
  io.err('stopped');
  return 0;
}
