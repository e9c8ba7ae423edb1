/**
 * Starts a server on a host and port, refusing the unsafe combination: no tokens on a non-loopback
 * address. The seed's store listened on every interface without authentication; here that needs an
 * explicit `insecure: true`.
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { AgentStateError } from '../errors.ts';

/** Options of `listenServer`. */
export interface ListenOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 4747; 0 = any free port). */
  port?: number;
  /** Allow binding a non-loopback address without tokens. */
  insecure?: boolean;
}

/** Default port of `agentstate serve`. */
export const DEFAULT_PORT = 4747;

/** Whether a host name or address only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

/** Binds the server; resolves to the address it listens on (`http://127.0.0.1:4747`). */
export async function listenServer(app: FastifyInstance, options: ListenOptions = {}): Promise<string> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  if (!app.agentstateAuthEnabled && !isLoopbackHost(host) && !options.insecure) {
    throw new AgentStateError(
      'FORBIDDEN',
      `refusing to listen on ${host} without authentication: give tokens (--token or --tokens-file), bind to 127.0.0.1, or pass --insecure`,
      { host },
    );
  }
  return app.listen({ host, port });
}
