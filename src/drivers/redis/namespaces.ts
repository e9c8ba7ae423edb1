import type { Redis } from 'ioredis';
import type { Page } from '../kernel/storage.ts';
import type { NamespaceQuery } from '../shared/validate.ts';

/**
 * Pages of the namespace index (`P ns`, a sorted set the write scripts keep). Data written before the
 * index existed is added once, by a SCAN of the `P i:` keys (one per namespace), after which a marker key
 * says the index is complete.
 */
export function namespaceIndex(redis: Redis, P: string): (query: NamespaceQuery) => Promise<Page<string>> {
  let filled: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    filled ??= (async () => {
      if ((await redis.exists(`${P}ns:complete`)) === 1) return;
      const pattern = `${P.replace(/[*?[\]\\]/g, '\\$&')}i:*`;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        const names = keys.map((key) => key.slice(P.length + 2));
        if (names.length > 0) await redis.zadd(`${P}ns`, ...names.flatMap((name) => [0, name]));
      } while (cursor !== '0');
      await redis.set(`${P}ns:complete`, '1');
    })().catch((error: unknown) => {
      filled = undefined;
      throw error;
    });
    return filled;
  };
  return async ({ limit, after }) => {
    await ready();
    const raw = await redis.zrangebylex(
      `${P}ns`,
      after === undefined ? '-' : `(${after}`,
      '+',
      'LIMIT',
      0,
      limit + 1,
    );
    const candidates = raw.slice(0, limit);
    // The fill from before the index existed may have added a namespace emptied meanwhile: checked here.
    const held = await Promise.all(candidates.map((name) => redis.exists(`${P}i:${name}`)));
    const items = candidates.filter((_, i) => held[i] === 1);
    const gone = candidates.filter((_, i) => held[i] !== 1);
    if (gone.length > 0) await redis.zrem(`${P}ns`, ...gone);
    const last = candidates.at(-1);
    return raw.length > limit && last !== undefined ? { items, last } : { items };
  };
}
