/** `agentstate serve`: the HTTP server on SQLite (default) or PostgreSQL, with graceful shutdown. */
import { resolve } from 'node:path';
import { errorMessage, InvalidInputError } from '../../errors.ts';
import { parseTokenArgument, readTokensFile, type TokenSpec } from '../../server/auth.ts';
import { normalizeCorsOrigins } from '../../server/cors.ts';
import { createServer } from '../../server/createServer.ts';
import { PostgresEventRelay } from '../../server/events/relay.ts';
import { DEFAULT_PORT, listenServer } from '../../server/listen.ts';
import { intOption, parse } from '../args.ts';
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
  --config <file>      Persistence config (.yaml/.yml/.json): documents (/v1/state) and sessions go
                       through its routing rules and backends; /metrics and 'agentstate status'
                       then include the persistence report
  --redis <url>        Keep TTL signals, locks and cooldowns (/v1/ttl) in Redis (default: memory)
  --token <t[:scope]>  Bearer token, repeatable; scope read, write or admin (default admin)
  --tokens-file <f>    Tokens file: JSON [{token, scope, name}] or lines "token scope name"
  --insecure           Allow a non-loopback --host without tokens
  --cors-origin <url>  Let browser pages of this origin call the server (CORS), repeatable, or * for any
                       origin (default: off). Tokens still apply; see docs/agent-lightning.md
  --log-level <lvl>    fatal, error, warn, info (default), debug, trace
  --json               Print the start-up line as JSON ({"listening": url, ...})
  -h, --help           Show this help

SIGINT/SIGTERM stop the server gracefully: requests in flight finish, then the stores close.`;

/** Runs `serve` until a signal stops it; resolves with the exit code. */
export async function serve(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string', default: DEFAULT_DATA_DIR },
    postgres: { type: 'string' },
    'postgres-schema': { type: 'string' },
    redis: { type: 'string' },
    config: { type: 'string' },
    token: { type: 'string', multiple: true },
    'tokens-file': { type: 'string' },
    insecure: { type: 'boolean', default: false },
    'cors-origin': { type: 'string', multiple: true },
    'log-level': { type: 'string', default: 'info' },
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
  // Checked before any store opens, so a mistyped origin leaves nothing to close.
  const corsOrigins = normalizeCorsOrigins(values['cors-origin'] ?? []);

  const stores = await openStores({
    data: resolve(values.data),
    postgres: values.postgres,
    postgresSchema: values['postgres-schema'],
    redis: values.redis,
    config: values.config === undefined ? undefined : resolve(values.config),
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
            connectionString: values.postgres,
            schema: values['postgres-schema'] ?? 'agentstate',
          }),
        }
      : {}),
    tokens,
    corsOrigins,
    logger: { level: values['log-level'] },
    closeStores: true,
  });
  let address: string;
  try {
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
    io.out(`agentstate listening on ${address} (${stores.description}, ${auth}${cors})`);
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
      app.close().then(resolveStop, (error: unknown) => {
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
