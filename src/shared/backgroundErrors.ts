import { errorMessage } from '../errors.ts';

/**
 * Where an error goes that no caller can catch: a failed sweep, poll, health check, autosave or listener
 * reconnect, or a listener that threw. Every long-lived object takes one as its `onError` option, so a
 * user routes all of them to one logger; the default is a process warning.
 */
export type BackgroundErrorHandler = (error: unknown, context: BackgroundErrorContext) => void;

/** What failed, for the handler: `source` names the object and loop (e.g. `sqlite sweep`). */
export interface BackgroundErrorContext {
  /** The object and background activity that failed, e.g. `postgres listener` or `session cleanup`. */
  readonly source: string;
  /** Extra facts: the namespace, file or event involved. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Warning code of background errors reported by the default handler. */
export const BACKGROUND_ERROR_WARNING = 'AGENTSTATE_BACKGROUND_ERROR';

/** The default handler: a process warning `agentstate: <source> failed: <message> <details as JSON>`. */
export const emitBackgroundWarning: BackgroundErrorHandler = (error, context) => {
  const details = context.details === undefined ? '' : ` ${safeJson(context.details)}`;
  process.emitWarning(`agentstate: ${context.source} failed: ${errorMessage(error)}${details}`, {
    code: BACKGROUND_ERROR_WARNING,
  });
};

/**
 * Calls `handler` (or the default) and never throws: a handler that throws must not kill the loop that
 * reported, so its own failure becomes a warning.
 */
export function reportBackgroundError(
  handler: BackgroundErrorHandler | undefined,
  error: unknown,
  context: BackgroundErrorContext,
): void {
  try {
    (handler ?? emitBackgroundWarning)(error, context);
  } catch (handlerError) {
    emitBackgroundWarning(handlerError, { source: `onError handler for ${context.source}` });
  }
}

// Details are facts the reporter chose (paths, names, counts); one that cannot be written as JSON (a cycle,
// a BigInt) must not turn the report itself into a failure.
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return '(details not printable)';
  }
}
