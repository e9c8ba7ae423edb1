/**
 * (time, slot) pairs that arrived in non-decreasing time order, kept as a FIFO in two typed arrays: push
 * and pop are O(1) and touch memory sequentially. Times are whole numbers in [0, 2^32) (`fitsRun`), 4 bytes
 * each: the store's expiries are whole ms after its creation, so that covers 49 days, and later ones go to
 * the heap (8 bytes per time). Most expiries arrive in this order (a class of keys
 * written with the same TTL as time goes on), so most items never pay a heap's O(log n) sift.
 */
export class TimeRun {
  #times: Uint32Array;
  #slots: Uint32Array;
  #head = 0;
  #tail = 0;

  constructor(initialCapacity = 1024) {
    this.#times = new Uint32Array(initialCapacity);
    this.#slots = new Uint32Array(initialCapacity);
  }

  /** Number of items. */
  get length(): number {
    return this.#tail - this.#head;
  }

  /** Bytes held by the backing arrays. */
  get byteLength(): number {
    return this.#times.byteLength + this.#slots.byteLength;
  }

  /** Time of the last item (only meaningful when not empty). */
  tailTime(): number {
    return this.#times[this.#tail - 1]!;
  }

  /** Time of the first item, or Infinity when empty. */
  peekTime(): number {
    return this.#tail > this.#head ? this.#times[this.#head]! : Number.POSITIVE_INFINITY;
  }

  /** Slot of the first item (only meaningful when not empty). */
  peekSlot(): number {
    return this.#slots[this.#head]!;
  }

  /** Appends an item; call only when `fitsRun(time)` and when empty or `time >= tailTime()`. */
  push(time: number, slot: number, capacityHint = 0): void {
    if (this.#tail === this.#times.length) this.#makeRoom(capacityHint);
    this.#times[this.#tail] = time;
    this.#slots[this.#tail++] = slot;
  }

  /** Removes the first item (call only when not empty). */
  pop(): void {
    if (++this.#head === this.#tail) this.#head = this.#tail = 0;
  }

  /**
   * Removes every item with time <= `now` and copies their slots into `out` from `at`: a binary search and
   * one block copy, since the times are sorted. `out` must have room for `dueCount(now)` more slots.
   */
  popDue(now: number, out: Uint32Array, at: number): number {
    const count = this.dueCount(now);
    out.set(this.#slots.subarray(this.#head, this.#head + count), at);
    this.#head += count;
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
    return count;
  }

  /** How many items have time <= `now` (binary search). */
  dueCount(now: number): number {
    const times = this.#times;
    let low = this.#head;
    let high = this.#tail;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (times[mid]! <= now) low = mid + 1;
      else high = mid;
    }
    return low - this.#head;
  }

  /** Drops every item and shrinks back. */
  clear(): void {
    this.#times = new Uint32Array(1024);
    this.#slots = new Uint32Array(1024);
    this.#head = this.#tail = 0;
  }

  // Full at the end: slide the live items to the front when at least half the array is already popped,
  // else grow (doubling, but no further than the caller's hint while below it).
  #makeRoom(capacityHint: number): void {
    const live = this.#tail - this.#head;
    const capacity = this.#times.length;
    if (this.#head > 0 && live <= capacity >> 1) {
      this.#times.copyWithin(0, this.#head, this.#tail);
      this.#slots.copyWithin(0, this.#head, this.#tail);
    } else {
      let next = capacity * 2;
      if (capacityHint > capacity && capacityHint < next) next = capacityHint;
      const times = new Uint32Array(next);
      times.set(this.#times.subarray(this.#head, this.#tail));
      const slots = new Uint32Array(next);
      slots.set(this.#slots.subarray(this.#head, this.#tail));
      this.#times = times;
      this.#slots = slots;
    }
    this.#head = 0;
    this.#tail = live;
  }
}

/** Whether a time can go to a run: a whole number that fits its 32-bit storage. */
export function fitsRun(time: number): boolean {
  return time >>> 0 === time;
}
