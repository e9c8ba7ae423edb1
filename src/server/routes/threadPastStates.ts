/** A thread's past state as the thread history routes answer it, rebuilt within a bound of saves. */
import type { ThreadStateAt } from '../../state/index.ts';

/** Most saves below the head one answer undoes to rebuild a past state (beyond: not retained). */
export const MAX_REBUILD_SAVES = 2000;

/**
 * A past state as the routes answer it: its values (a persisted state's values are the codec's tagged form
 * already, as `StateStore.exportPersisted` wrote them), or why it is not kept.
 */
export function pastState(state: ThreadStateAt, keys?: readonly string[]): Record<string, unknown> {
  if (!state.retained) {
    return {
      revision: state.documentRevision,
      retained: false,
      code: 'REVISION_NOT_RETAINED',
      message:
        `the values of save ${state.documentRevision} are no longer kept (retention, compaction, or more than ` +
        `${MAX_REBUILD_SAVES} saves ago); the oldest save shown with its values is ${state.oldestRetained}`,
      oldestRetained: state.oldestRetained,
    };
  }
  const shown = keys ?? Object.keys(state.extensions);
  const values: Record<string, unknown> = {};
  for (const key of shown) {
    if (Object.hasOwn(state.extensions, key)) {
      Object.defineProperty(values, key, { value: state.extensions[key], enumerable: true });
    }
  }
  return { revision: state.documentRevision, retained: true, values };
}
