import { TimeHeap } from './timeHeap.ts';
import { TimeRun } from './timeRun.ts';

/**
 * The store's schedule of expiries: a priority queue of (time, slot) pairs. Items that arrive in time
 * order (the common case) go to a FIFO run, O(1) each way; the rest go to a 4-ary heap. The earliest item
 * is the earlier of the two heads. With one TTL for all keys the heap stays empty and a sweep of d due keys
 * reads d consecutive entries; with mixed TTLs only the out-of-order items pay O(log n).
 *
 * The store uses it lazily: an item's time is a lower bound of its slot's expiry, never more. Extending
 * an expiry (the common overwrite: same TTL, later now) therefore costs nothing here; when the early item
 * pops, the store sees the slot is not due yet and pushes it again at its real expiry. Only a shorter
 * expiry needs a new item, which leaves a stale duplicate behind; `rebuild` drops those when they pile up.
 */
export class ExpiryQueue {
  #run = new TimeRun();
  #heap = new TimeHeap();

  /** Number of items, stale ones included. */
  get length(): number {
    return this.#run.length + this.#heap.length;
  }

  /** Bytes held by the backing arrays. */
  get byteLength(): number {
    return this.#run.byteLength + this.#heap.byteLength;
  }

  /** Time of the earliest item, or Infinity when empty. */
  peekTime(): number {
    return Math.min(this.#run.peekTime(), this.#heap.peekTime());
  }

  /** Slot of the earliest item (only meaningful when not empty). */
  peekSlot(): number {
    return this.#runFirst() ? this.#run.peekSlot() : this.#heap.peekSlot();
  }

  /** Adds an item. `capacityHint` (the store's maxEntries) caps array growth while below it. */
  push(time: number, slot: number, capacityHint = 0): void {
    if (this.#run.accepts(time)) this.#run.push(time, slot, capacityHint);
    else this.#heap.push(time, slot, capacityHint);
  }

  /** Removes the earliest item (call only when not empty). */
  pop(): void {
    if (this.#runFirst()) this.#run.pop();
    else this.#heap.pop();
  }

  /** Replaces the content with the given items (O(n)). */
  rebuild(times: Float64Array, slots: Uint32Array, count: number): void {
    this.#run.clear();
    this.#heap.rebuild(times, slots, count);
  }

  /** Drops every item and shrinks back. */
  clear(): void {
    this.#run.clear();
    this.#heap.clear();
  }

  #runFirst(): boolean {
    return this.#run.length > 0 && this.#run.peekTime() <= this.#heap.peekTime();
  }
}
