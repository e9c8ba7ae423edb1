/**
 * Announcing Redis expiries as they happen. Redis tells nobody that a key expired unless keyspace
 * notifications are switched on (off by default, and not allowed on many managed Redis services), so the
 * store notes each expiry time in an index (a sorted set, by the Redis clock) and a watcher reads the due
 * part of it every second, a bounded batch at a time, and announces the keys that are really gone.
 * Watchers keep their own position and never remove entries, so any number of processes may watch, each
 * announcing each expiry once to its own listeners; the writes trim entries long past (see redisScripts).
 */
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';

/** Options of `RedisTtlStore.watchExpiries`. */
export interface ExpiryWatchOptions {
  /** How often the index is read, ms (default 1000). */
  intervalMs?: number;
  /** Index entries read per round trip (default 500); a longer backlog is read in several, up to 10 a tick. */
  batchSize?: number;
  /** Where a failed read goes (default: a process warning); the watch goes on. */
  onError?: BackgroundErrorHandler;
}

/** What the watcher needs from the store. */
export interface ExpiryIndex {
  /** The Redis time and up to `count` `[member, time, ...]` due from `from` (inclusive) to now - 1. */
  due(from: number | '+inf', count: number): Promise<[number, string[]]>;
  /** Whether each key still exists. */
  existing(keys: string[]): Promise<boolean[]>;
}

const BATCHES_PER_TICK = 10;

/** Polls `index` and calls `onExpire` with each key that expired since the watch began; returns the stop function. */
export function watchIndexedExpiries(
  index: ExpiryIndex,
  onExpire: (key: string) => void,
  options: ExpiryWatchOptions = {},
): () => Promise<void> {
  const intervalMs = options.intervalMs ?? 1000;
  const batchSize = options.batchSize ?? 500;
  // Position: entries before `from` are done, and so are those at `from` named in `doneAtFrom` (many
  // keys may share one millisecond, and a batch may end among them).
  let from: number | undefined;
  let doneAtFrom = new Set<string>();
  let stopped = false;
  let running: Promise<void> | undefined;

  const readBatch = async (): Promise<boolean> => {
    const [now, flat] = await index.due(from ?? '+inf', batchSize + doneAtFrom.size);
    if (from === undefined) {
      // The first read only learns the Redis time: expiries before the watch began are not news.
      from = now;
      return false;
    }
    const due: Array<{ key: string; at: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const key = flat[i]!;
      const at = Number(flat[i + 1]);
      if (at === from && doneAtFrom.has(key)) continue;
      due.push({ key, at });
    }
    if (due.length > 0) {
      const exists = await index.existing(due.map((entry) => entry.key));
      due.forEach((entry, i) => {
        if (!exists[i] && !stopped) onExpire(entry.key);
      });
    }
    if (flat.length / 2 < batchSize + doneAtFrom.size) {
      // The whole due range was read: next time, from now on.
      from = now;
      doneAtFrom = new Set();
      return false;
    }
    const last = due.at(-1)?.at ?? from;
    if (last !== from) doneAtFrom = new Set();
    from = last;
    for (const entry of due) if (entry.at === last) doneAtFrom.add(entry.key);
    return true;
  };

  const tick = async () => {
    try {
      for (let i = 0; i < BATCHES_PER_TICK && !stopped; i += 1) if (!(await readBatch())) break;
    } catch (error) {
      reportBackgroundError(options.onError, error, { source: 'redis ttl expiry watch' });
    }
  };

  const timer = setInterval(() => {
    running ??= tick().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();
  running = tick().finally(() => {
    running = undefined;
  });
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
