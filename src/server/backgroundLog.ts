import type { FastifyBaseLogger } from 'fastify';
import type { BackgroundErrorHandler } from '../shared/backgroundErrors.ts';

/**
 * The server's `onError` for background work (store sweeps, feeds, the event relay, session cleanup): an
 * `error` line in the server's own log, with the source and details as fields, instead of a process
 * warning on stderr beside the structured log.
 */
export function logBackgroundErrors(logger: FastifyBaseLogger): BackgroundErrorHandler {
  return (error, context) => {
    logger.error({ err: error, source: context.source, ...context.details }, `${context.source} failed`);
  };
}
