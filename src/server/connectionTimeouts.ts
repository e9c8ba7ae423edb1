/**
 * How long a client may hold a connection without doing its part, so slow or stalled clients cannot
 * pile up sockets and memory while others wait: headers sent byte by byte (slowloris), a body trickled in,
 * an idle keep-alive connection, a response the client never reads. Node enforces the first three
 * (`headersTimeout`, `requestTimeout`, `keepAliveTimeout`, checked every `connectionsCheckingInterval`);
 * the last is `guardConnections` below. A request fully received is not timed: a long-poll wait or an
 * event stream may stay open as long as it is answered or kept alive.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { InvalidInputError } from '../errors.ts';
import { integerOption } from '../shared/integerOption.ts';

/** Connection timeouts and cap of the server (each in ms; 0 turns a timeout off). */
export interface ConnectionTimeoutOptions {
  /**
   * Time to receive a request's line and headers (default 30 s), from its first byte, or for a
   * connection's first request from its accept; then 408, closed.
   */
  headersTimeoutMs?: number;
  /** Time to receive a whole request, body included (default 120 s); then 408, closed. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this (default 72 s, above common load balancers' 60 s). */
  keepAliveTimeoutMs?: number;
  /** A connection whose client takes no byte of a pending response for this long is closed (default 60 s). */
  sendTimeoutMs?: number;
  /** How often the timeouts above are checked (default 1 s): a held socket closes within timeout + this. */
  connectionsCheckingIntervalMs?: number;
  /** Most connections open at once; more are closed as they arrive (default 0: no cap). */
  maxConnections?: number;
}

/** Defaults of `ConnectionTimeoutOptions`. */
export const DEFAULT_CONNECTION_TIMEOUTS: Readonly<Required<ConnectionTimeoutOptions>> = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 72_000,
  sendTimeoutMs: 60_000,
  connectionsCheckingIntervalMs: 1_000,
  maxConnections: 0,
};

/** The options checked, with defaults filled in. */
export function connectionTimeouts(options: ConnectionTimeoutOptions): Required<ConnectionTimeoutOptions> {
  const d = DEFAULT_CONNECTION_TIMEOUTS;
  const t = {
    headersTimeoutMs: integerOption(options.headersTimeoutMs, d.headersTimeoutMs, 'headersTimeoutMs', 0),
    requestTimeoutMs: integerOption(options.requestTimeoutMs, d.requestTimeoutMs, 'requestTimeoutMs', 0),
    keepAliveTimeoutMs: integerOption(
      options.keepAliveTimeoutMs,
      d.keepAliveTimeoutMs,
      'keepAliveTimeoutMs',
      0,
    ),
    sendTimeoutMs: integerOption(options.sendTimeoutMs, d.sendTimeoutMs, 'sendTimeoutMs', 0),
    connectionsCheckingIntervalMs: integerOption(
      options.connectionsCheckingIntervalMs,
      d.connectionsCheckingIntervalMs,
      'connectionsCheckingIntervalMs',
      1,
    ),
    maxConnections: integerOption(options.maxConnections, d.maxConnections, 'maxConnections', 0),
  };
  // Node refuses a headers timeout longer than the request's (the headers are part of the request).
  if (t.requestTimeoutMs > 0 && t.headersTimeoutMs > t.requestTimeoutMs) {
    throw new InvalidInputError('headersTimeoutMs must not be longer than requestTimeoutMs', {
      field: 'headersTimeoutMs',
      headersTimeoutMs: t.headersTimeoutMs,
      requestTimeoutMs: t.requestTimeoutMs,
    });
  }
  return t;
}

/** The Fastify options that carry the timeouts Node enforces. */
export function fastifyTimeoutOptions(t: Required<ConnectionTimeoutOptions>): Pick<
  FastifyServerOptions,
  'keepAliveTimeout' | 'requestTimeout'
> & {
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  return {
    keepAliveTimeout: t.keepAliveTimeoutMs,
    // Fastify's default is 0 (none), which let a client trickle a body in for ever.
    requestTimeout: t.requestTimeoutMs,
    http: {
      headersTimeout: t.headersTimeoutMs,
      requestTimeout: t.requestTimeoutMs,
      // Node's default is 30 s, so a 30 s headers timeout would fire anywhere between 30 and 60 s.
      connectionsCheckingInterval: t.connectionsCheckingIntervalMs,
    },
  };
}

/**
 * Caps the connections of `app`'s server and closes those whose client stopped reading a response: a
 * socket with bytes waiting to be sent whose backlog did not shrink for `sendTimeoutMs`. One timer scans
 * the open sockets every checking interval (a few property reads each), instead of a timer per write; a
 * socket's inactivity timeout would not do, as it would also end long-poll waits that are quiet by design.
 */
export function guardConnections(app: FastifyInstance, t: Required<ConnectionTimeoutOptions>): void {
  const server = app.server as Server;
  if (t.maxConnections > 0) server.maxConnections = t.maxConnections;
  if (t.sendTimeoutMs === 0) return;
  // Per socket: its backlog at the last look and since when it has not shrunk.
  const sockets = new Map<Socket, { backlog: number; since: number }>();
  let timer: NodeJS.Timeout | undefined;
  const scan = () => {
    const now = Date.now();
    for (const [socket, seen] of sockets) {
      const backlog = socket.writableLength;
      if (backlog === 0 || backlog < seen.backlog) {
        seen.backlog = backlog;
        seen.since = now;
      } else if (now - seen.since >= t.sendTimeoutMs) {
        socket.destroy();
      } else seen.backlog = backlog;
    }
  };
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { backlog: 0, since: Date.now() });
    socket.once('close', () => sockets.delete(socket));
    if (timer === undefined) {
      timer = setInterval(scan, t.connectionsCheckingIntervalMs);
      timer.unref();
    }
  });
  app.addHook('onClose', async () => {
    if (timer !== undefined) clearInterval(timer);
  });
}
