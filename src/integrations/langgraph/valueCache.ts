import { LRUCache } from 'lru-cache';
import { InvalidInputError } from '../../errors.ts';
import type { Serialized } from './serialized.ts';

/** Bytes of channel values a saver keeps by default. */
export const DEFAULT_VALUE_CACHE_BYTES = 16 * 1024 * 1024;

// Bookkeeping of one entry beyond its value (the key, the entry, the object), counted so that many small
// values cannot hold more memory than the budget says.
const ENTRY_OVERHEAD = 128;

/**
 * The channel values (as stored: serializer output) a saver has written or read, by their document id.
 * A (channel, version) is stored once and never replaced (a different value under a stored version is
 * refused), so a value read back here is the one stored; `getTuple` then reads from the store only the
 * values it has not seen, which in a running graph is the one channel the last step changed. Only values
 * of the saver's own unique versions are kept (`isUniqueVersion`): a thread deleted and begun again by
 * another process could store a different value under an integer version this process already holds,
 * never under a random one. Values are kept in their serialized form and loaded anew for each reader, so
 * no two readers share an object. Bounded by bytes (least recently used go first); emptied by
 * `deleteThread` and `prune`, the deletions of values this process makes.
 */
export class ValueCache {
  readonly #cache: LRUCache<string, Serialized> | undefined;
  // Moves on every clear: a read that began before a clear does not put back what the clear removed.
  #epoch = 0;

  /** A cache of at most `maxBytes` (0: none). */
  constructor(maxBytes: number = DEFAULT_VALUE_CACHE_BYTES) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new InvalidInputError('valueCacheBytes must be an integer >= 0', { valueCacheBytes: maxBytes });
    }
    this.#cache =
      maxBytes === 0
        ? undefined
        : new LRUCache<string, Serialized>({ maxSize: maxBytes, sizeCalculation: sizeOf });
  }

  /**
   * The values of `ids` (of channel `versions`) in order, undefined where none is stored: kept ones from
   * here, the others from `read` in one call, which are then kept when their version may be.
   */
  async getMany(
    ids: readonly string[],
    versions: readonly unknown[],
    read: (ids: string[]) => Promise<Array<Serialized | undefined>>,
  ): Promise<Array<Serialized | undefined>> {
    const cache = this.#cache;
    if (cache === undefined) return read([...ids]);
    const values = ids.map((id) => own(cache.get(id)));
    const missing: string[] = [];
    for (let i = 0; i < ids.length; i++) if (values[i] === undefined) missing.push(ids[i]!);
    if (missing.length === 0) return values;
    const epoch = this.#epoch;
    const fetched = await read(missing);
    const keep = epoch === this.#epoch;
    let next = 0;
    for (let i = 0; i < ids.length; i++) {
      if (values[i] !== undefined) continue;
      const value = fetched[next++];
      values[i] = value;
      if (keep && value !== undefined) this.set(ids[i]!, versions[i], value);
    }
    return values;
  }

  /** Keeps a value stored under `id` (of channel `version`) when its version may be kept. */
  set(id: string, version: unknown, value: Serialized): void {
    // A copy of bytes: the caller's array (LangGraph's serializer passes a Uint8Array through) may change.
    if (isUniqueVersion(version)) this.#cache?.set(id, own(value)!);
  }

  /** Forgets every value (after values were deleted). */
  clear(): void {
    this.#epoch++;
    this.#cache?.clear();
  }
}

/** Whether `version` is one of the saver's unique versions (an integer plus a random fraction). */
export function isUniqueVersion(version: unknown): boolean {
  return typeof version === 'number' && Number.isFinite(version) && !Number.isInteger(version);
}

// `value` with bytes of its own: LangGraph's serializer reads bytes back as the very array it is given, so
// each reader gets its own copy and nobody can change the kept one.
function own(value: Serialized | undefined): Serialized | undefined {
  return value !== undefined && 's' in value && value.s instanceof Uint8Array
    ? { t: value.t, s: value.s.slice() }
    : value;
}

// Bytes a value holds: strings at two bytes a character (V8 may store one), bytes as they are.
function sizeOf(value: Serialized): number {
  const data = 's' in value ? value.s : value.v;
  if (typeof data === 'string') return ENTRY_OVERHEAD + data.length * 2;
  if (data instanceof Uint8Array) return ENTRY_OVERHEAD + data.byteLength;
  return ENTRY_OVERHEAD;
}
