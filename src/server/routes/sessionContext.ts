/**
 * What the `/v1/sessions` route files share: the path parameter schema, a session's answer and the
 * serialized saves. Every change is saved to the manager's DocumentStore before the response is sent
 * (saves run one at a time), so an acknowledged change survives a restart.
 */
import { NotFoundError } from '../../errors.ts';
import type { SessionManager, SessionStateModule } from '../../modules/index.ts';
import { MAX_ID_LENGTH, nameSchema } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';

/** Path parameters of a session's routes. */
export const idParams = {
  type: 'object',
  required: ['sessionId'],
  properties: { sessionId: nameSchema(MAX_ID_LENGTH) },
} as const;

/** A session as the routes answer it. */
export function view(session: SessionStateModule) {
  return {
    ...session.summary(),
    participants: [...session.participants],
    statusReason: session.statusReason,
    context: Object.fromEntries(session.context),
  };
}

/** The manager, with the save every change awaits and the lookup that answers 404. */
export interface SessionRouteContext {
  /** The sessions served. */
  manager: SessionManager;
  /** Saves every session; resolves once a save that started after this call is done. */
  save(): Promise<unknown>;
  /** The session `sessionId`, or a NotFoundError. */
  find(sessionId: string): SessionStateModule;
}

/** The routes' context over `manager`, saves timed in `metrics`. */
export function sessionRouteContext(manager: SessionManager, metrics: ServerMetrics): SessionRouteContext {
  let saving: Promise<unknown> = Promise.resolve();
  // Saves run one after another; each change waits for a save that started after it.
  const save = () => {
    saving = saving.then(
      () => metrics.time('sessions', 'saveAll', () => manager.saveAll()),
      () => metrics.time('sessions', 'saveAll', () => manager.saveAll()),
    );
    return saving;
  };
  const find = (sessionId: string): SessionStateModule => {
    const session = manager.getSession(sessionId);
    if (!session) throw new NotFoundError(`no session '${sessionId}'`, { sessionId });
    return session;
  };
  return { manager, save, find };
}
