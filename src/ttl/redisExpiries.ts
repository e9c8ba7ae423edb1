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
  /** Each key's remaining life, ms, as PTTL answers: -2 gone, -1 no expiry. */
  remainingMs(keys: string[]): Promise<number[]>;
}

const BATCHES_PER_TICK = 10;
/** Keys still alive at their noted time (a writer's clock behind Redis's) re-checked later, at most. */
const MAX_PENDING = 10_000;

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
  let redisNow = 0;
  // Keys found alive at their noted time, by when Redis expires them (its clock): checked again then.
  const pending = new Map<string, number>();
  let running: Promise<void> | undefined;

  const readBatch = async (): Promise<boolean> => {
    const [now, flat] = await index.due(from ?? '+inf', batchSize + doneAtFrom.size);
    redisNow = now;
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
    // The index entry is the latest write's: it supersedes a re-check left by an earlier one.
    for (const entry of due) pending.delete(entry.key);
    await check(due.map((entry) => entry.key));
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

  // Announces the keys that are gone; a key still expiring is checked again when Redis says it is due.
  const check = async (keys: string[]) => {
    if (keys.length === 0) return;
    const remaining = await index.remainingMs(keys);
    keys.forEach((key, i) => {
      const ms = remaining[i]!;
      if (ms === -2 && !stopped) onExpire(key);
      else if (ms >= 0 && pending.size < MAX_PENDING) pending.set(key, redisNow + ms);
    });
  };

  const recheck = async () => {
    const dueNow: string[] = [];
    for (const [key, at] of pending) {
      if (at >= redisNow || dueNow.length >= batchSize) continue;
      dueNow.push(key);
      pending.delete(key);
    }
    await check(dueNow);
  };

  const tick = async () => {
    try {
      for (let i = 0; i < BATCHES_PER_TICK && !stopped; i += 1) if (!(await readBatch())) break;
      await recheck();
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
