/**
 * Key -> slot number, for the memory TtlStore's writes, expiry checks and sweeps; reads of the value go
 * through a plain `Map` (see memoryStore.ts). Slots are small integers handed out in insertion order and
 * reused after removal; `keys[slot]` is the slot's key (undefined when free).
 *
 * Why not a second `Map<string, number>`: a V8 Map entry costs 28-37 bytes (three words plus its bucket
 * share, at the table's load), so two Maps per key would cost more memory per entry than lru-cache.
 * This index is an open-addressing table of slot numbers in a `Uint32Array` at load <= 1/2 (8-10 bytes
 * per key) over the `keys` array and a `hashes` array (12 bytes), with linear probing:
 * - each slot's hash is kept, so a probe compares hashes before keys, and removing or re-placing an entry
 *   never touches the key string (a sweep of 10k scattered keys would otherwise pay a cache miss per key
 *   string, and the backward-shift deletion one per neighbour);
 * - removal leaves a tombstone (O(1), no shifting); adds reuse tombstones, and when tombstones fill a
 *   quarter of the table it is rebuilt from the stored hashes, O(capacity) once per that many removals.
 * Keys are hashed in JavaScript once per write; in full up to HASH_FULL_CHARS characters, longer ones by
 * their ends and a spread sample.
 */

// A table cell holds slot + 1; 0 is an empty cell, TOMB a removed entry (probes continue past it).
const EMPTY = 0;
const TOMB = 0xffffffff;
const HASH_FULL_CHARS = 96;
const HASH_END_CHARS = 32;
const HASH_SAMPLES = 32;

/** FNV-1a over the key's UTF-16 code units, finished with murmur3's mixer so the low bits are usable. */
export function hashKey(key: string): number {
  const length = key.length;
  let h = 0x811c9dc5 ^ length;
  if (length <= HASH_FULL_CHARS) {
    for (let i = 0; i < length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  } else {
    // Long keys: both ends in full (prefixes and suffixes are where keys of one family differ) plus
    // samples spread over the middle. Keys that differ only between samples collide and share a probe
    // run; lookups stay correct, since a probe compares whole keys once the hashes match.
    for (let i = 0; i < HASH_END_CHARS; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    for (let i = length - HASH_END_CHARS; i < length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    const step = Math.floor((length - 2 * HASH_END_CHARS) / HASH_SAMPLES) || 1;
    for (let i = HASH_END_CHARS; i < length - HASH_END_CHARS; i += step)
      h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Slot numbers by key, with slot allocation; see the module comment. */
export class SlotIndex {
  /** The key of each slot (undefined: free). Read-only outside this class. */
  keys: Array<string | undefined>;
  #hashes: Uint32Array;
  #table: Uint32Array;
  #mask: number;
  #tombs = 0;
  #next = 0;
  #free: number[] = [];
  readonly #maxCapacity: number;

  /** An empty index of `capacity` slots that grows, by doubling, up to `maxCapacity`. */
  constructor(capacity: number, maxCapacity: number) {
    this.#maxCapacity = maxCapacity;
    this.keys = new Array<string | undefined>(capacity).fill(undefined);
    this.#hashes = new Uint32Array(capacity);
    this.#table = new Uint32Array(tableSizeFor(capacity));
    this.#mask = this.#table.length - 1;
  }

  /** Number of slots the arrays hold now (parallel per-slot arrays must be at least this long). */
  get capacity(): number {
    return this.keys.length;
  }

  /** The key's slot, or -1. Pass `hash` when already computed (`hashKey(key)`). */
  find(key: string, hash = hashKey(key)): number {
    const hashes = this.#hashes;
    const table = this.#table;
    const mask = this.#mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const cell = table[i]!;
      if (cell === EMPTY) return -1;
      if (cell !== TOMB && hashes[cell - 1] === hash && this.keys[cell - 1] === key) return cell - 1;
    }
  }

  /** Adds a key that is not in the index and returns its new slot (growing the arrays when full). */
  add(key: string, hash = hashKey(key)): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#next++;
      if (slot >= this.keys.length) this.#grow();
    }
    this.keys[slot] = key;
    this.#hashes[slot] = hash;
    const table = this.#table;
    const mask = this.#mask;
    let i = hash & mask;
    // The key is absent, so the first reusable cell of its probe run is its place.
    while (table[i] !== EMPTY && table[i] !== TOMB) i = (i + 1) & mask;
    if (table[i] === TOMB) this.#tombs--;
    table[i] = slot + 1;
    return slot;
  }

  /** Removes the key of `slot` and frees the slot. */
  remove(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = this.#hashes[slot]! & mask;
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    table[i] = TOMB;
    this.keys[slot] = undefined;
    this.#free.push(slot);
    if (++this.#tombs > table.length >>> 2) this.#rebuild(table.length);
  }

  /** Live slots, in slot order. */
  *slots(): IterableIterator<number> {
    const keys = this.keys;
    for (let slot = 0; slot < this.#next; slot++) if (keys[slot] !== undefined) yield slot;
  }

  // Doubling, clamped to the maximum; the table is rebuilt at twice the new capacity (O(n), once per
  // doubling, so O(1) amortised per key).
  #grow(): void {
    const old = this.keys.length;
    const next = Math.min(Math.max(old * 2, 1), Math.max(this.#maxCapacity, old + 1));
    // New arrays of the exact size: growing by push would leave V8's own slack (up to 1.5x) behind.
    const keys = new Array<string | undefined>(next).fill(undefined);
    for (let i = 0; i < old; i++) keys[i] = this.keys[i];
    this.keys = keys;
    const hashes = new Uint32Array(next);
    hashes.set(this.#hashes);
    this.#hashes = hashes;
    this.#rebuild(tableSizeFor(next));
  }

  /** A fresh table of `size` cells holding every live slot, placed by its stored hash; no tombstones. */
  #rebuild(size: number): void {
    const table = new Uint32Array(size);
    const mask = size - 1;
    const keys = this.keys;
    const hashes = this.#hashes;
    for (let slot = 0; slot < this.#next; slot++) {
      if (keys[slot] === undefined) continue;
      let i = hashes[slot]! & mask;
      while (table[i] !== EMPTY) i = (i + 1) & mask;
      table[i] = slot + 1;
    }
    this.#table = table;
    this.#mask = mask;
    this.#tombs = 0;
  }
}

/** The smallest power of two holding `capacity` keys at load <= 1/2. */
function tableSizeFor(capacity: number): number {
  let size = 16;
  while (size < 2 * capacity) size *= 2;
  return size;
}
