/** The reference's long-poll: wait until rollouts finish, within the server's and the token's wait limits. */
import { InvalidInputError } from '../../errors.ts';
import { rolloutToWire } from '../agl/wire.ts';
import type { WaitLimits } from '../waitLimits.ts';
import { type AglContext, type AglHandler, body } from './aglContext.ts';

/** Handler of `POST /v1/agl/waits/rollouts`, by `METHOD path`. */
export function waitHandlers({ store, time }: AglContext, waits: WaitLimits): Record<string, AglHandler> {
  return {
    'POST /v1/agl/waits/rollouts': async (r, reply) => {
      const b = body(r);
      const timeout = b.timeout as number | null | undefined;
      if (typeof timeout === 'number' && timeout < 0) {
        throw new InvalidInputError('timeout must be >= 0 seconds', { field: 'body.timeout' });
      }
      const release = waits.admit(r.agentstatePrincipal?.name);
      // A client that goes away ends its wait: the waiter would otherwise live until the rollouts finish.
      const gone = new AbortController();
      const onClose = (): void => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      reply.raw.once('close', onClose);
      // The client may have left before this handler ran (its close event already passed).
      if (reply.raw.destroyed || r.raw.socket?.destroyed) gone.abort();
      try {
        const rollouts = await time('waitForRollouts', () =>
          store.waitForRollouts({
            rolloutIds: b.rollout_ids as string[],
            timeoutMs: typeof timeout === 'number' ? timeout * 1000 : null,
            signal: gone.signal,
          }),
        );
        return rollouts.map(rolloutToWire);
      } finally {
        reply.raw.off('close', onClose);
        release();
      }
    },
  };
}
