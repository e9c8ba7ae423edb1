/**
 * 4-ary min-heap of (time, slot) pairs in two typed arrays: 12 bytes per item, no object per entry, and
 * comparisons read the time stored beside the slot instead of chasing the slot. Four children per node
 * halve the depth of a binary heap, and the four candidate times sit side by side in one cache line.
 * The package's one heap: the TTL store's `ExpiryQueue` uses it for the items that arrive out of time
 * order, the document drivers' `ExpiryHeap` for document expiries.
 */
export class TimeHeap {
  #times: Float64Array;
  #slots: Uint32Array;
  #length = 0;

  constructor(initialCapacity = 1024) {
    this.#times = new Float64Array(initialCapacity);
    this.#slots = new Uint32Array(initialCapacity);
  }

  /** Number of items. */
  get length(): number {
    return this.#length;
  }

  /** Bytes held by the backing arrays. */
  get byteLength(): number {
    return this.#times.byteLength + this.#slots.byteLength;
  }

  /** Time of the earliest item, or Infinity when empty. */
  peekTime(): number {
    return this.#length > 0 ? this.#times[0]! : Number.POSITIVE_INFINITY;
  }

  /** Slot of the earliest item (only meaningful when not empty). */
  peekSlot(): number {
    return this.#slots[0]!;
  }

  /** Adds an item. Sift-up stops at once for the usual case of times pushed in increasing order. */
  push(time: number, slot: number, capacityHint = 0): void {
    if (this.#length === this.#times.length) this.#grow(capacityHint);
    const times = this.#times;
    const slots = this.#slots;
    let i = this.#length++;
    while (i > 0) {
      const parent = (i - 1) >> 2;
      const parentTime = times[parent]!;
      if (parentTime <= time) break;
      times[i] = parentTime;
      slots[i] = slots[parent]!;
      i = parent;
    }
    times[i] = time;
    slots[i] = slot;
  }

  /** Removes the earliest item (call only when not empty). */
  pop(): void {
    const n = --this.#length;
    if (n === 0) return;
    this.#times[0] = this.#times[n]!;
    this.#slots[0] = this.#slots[n]!;
    this.#siftDown(0);
  }

  /** Replaces the content with the given items and restores heap order in O(n) (Floyd's heapify). */
  rebuild(times: Float64Array, slots: Uint32Array, count: number): void {
    const capacity = Math.max(1024, count + (count >> 1));
    this.#times = new Float64Array(capacity);
    this.#slots = new Uint32Array(capacity);
    this.#times.set(times.subarray(0, count));
    this.#slots.set(slots.subarray(0, count));
    this.#length = count;
    for (let i = (count - 2) >> 2; i >= 0; i--) this.#siftDown(i);
  }

  /** Drops every item and shrinks back. */
  clear(): void {
    this.#times = new Float64Array(1024);
    this.#slots = new Uint32Array(1024);
    this.#length = 0;
  }

  #siftDown(start: number): void {
    const times = this.#times;
    const slots = this.#slots;
    const n = this.#length;
    const time = times[start]!;
    const slot = slots[start]!;
    let i = start;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      let child = first;
      let childTime = times[first]!;
      const last = Math.min(first + 4, n);
      for (let c = first + 1; c < last; c++) {
        const t = times[c]!;
        if (t < childTime) {
          child = c;
          childTime = t;
        }
      }
      if (childTime >= time) break;
      times[i] = childTime;
      slots[i] = slots[child]!;
      i = child;
    }
    times[i] = time;
    slots[i] = slot;
  }

  // Doubling, but no further than a caller's hint (the store's maxEntries) while below it, so a bounded
  // store does not pay for a half-empty array.
  #grow(capacityHint: number): void {
    const current = this.#times.length;
    let next = current * 2;
    if (capacityHint > current && capacityHint < next) next = capacityHint;
    const times = new Float64Array(next);
    times.set(this.#times);
    const slots = new Uint32Array(next);
    slots.set(this.#slots);
    this.#times = times;
    this.#slots = slots;
  }
}
