import { TimeHeap } from '../shared/timeHeap.ts';
import { fitsRun, TimeRun } from './timeRun.ts';

// Enough FIFO runs for the handful of TTL classes a store typically mixes (cooldowns, locks, cached
// results...); items that fit none of them go to the heap.
const MAX_RUNS = 8;
// `#head` when the heap holds the earliest item (or everything is empty).
const HEAP = -1;

/**
 * The store's schedule of expiries: a priority queue of (time, slot) pairs. Items that arrive in time
 * order go to a FIFO run, O(1) each way and read sequentially; the rest go to a 4-ary heap. There are up
 * to MAX_RUNS runs, because a store usually mixes a few TTL classes (1 s cooldowns, 60 s signals, 1 h
 * locks): interleaved, their expiries are out of order, but each class on its own arrives in order, so
 * each gets its own run and never pays the heap's O(log n) sift. A push picks the run whose last time is
 * the latest one not after the new time (best fit: a class keeps landing in its own run); the earliest
 * item is the earliest of the run heads and the heap's head, found in O(MAX_RUNS) and cached.
 *
 * The store uses it lazily: an item's time is a lower bound of its slot's expiry, never more. Extending
 * an expiry (the common overwrite: same TTL, later now) therefore costs nothing here; when the early item
 * pops, the store sees the slot is not due yet and pushes it again at its real expiry. Only a shorter
 * expiry needs a new item, which leaves a stale duplicate behind; `rebuild` drops those when they pile up.
 */
export class ExpiryQueue {
  #runs: TimeRun[] = [new TimeRun()];
  #heap = new TimeHeap();
  // Which source holds the earliest item: a run index or HEAP; kept current by push and pop.
  #head = HEAP;
  #headTime = Number.POSITIVE_INFINITY;
  #length = 0;
  #due = new Uint32Array(1024);

  /** Number of items, stale ones included. */
  get length(): number {
    return this.#length;
  }

  /** Bytes held by the backing arrays. */
  get byteLength(): number {
    let bytes = this.#heap.byteLength;
    for (const run of this.#runs) bytes += run.byteLength;
    return bytes;
  }

  /** Time of the earliest item, or Infinity when empty. */
  peekTime(): number {
    return this.#headTime;
  }

  /** Slot of the earliest item (only meaningful when not empty). */
  peekSlot(): number {
    return this.#head === HEAP ? this.#heap.peekSlot() : this.#runs[this.#head]!.peekSlot();
  }

  /** Adds an item. `capacityHint` (the store's maxEntries) caps array growth while below it. */
  push(time: number, slot: number, capacityHint = 0): void {
    const at = this.#runFor(time);
    if (at === HEAP) this.#heap.push(time, slot, capacityHint);
    else this.#runs[at]!.push(time, slot, capacityHint);
    this.#length++;
    if (time < this.#headTime) {
      this.#headTime = time;
      // Heap pushes may sift the item to the top; a run only takes it at its head when it was empty.
      this.#head = at;
    }
  }

  /** Removes the earliest item (call only when not empty). */
  pop(): void {
    if (this.#head === HEAP) this.#heap.pop();
    else this.#runs[this.#head]!.pop();
    this.#length--;
    this.#findHead();
  }

  /**
   * Removes every item with time <= `now` at once and returns how many; their slots are then
   * `dueSlots[0..count)`, in no particular order. Runs give theirs up in one block copy each, so a sweep
   * of d items costs O(d) plus O(log n) per heap item, without a per-item head search.
   */
  popDue(now: number): number {
    if (this.#headTime > now) return 0;
    let count = 0;
    for (const run of this.#runs) {
      const due = run.dueCount(now);
      if (due === 0) continue;
      this.#reserve(count + due);
      count += run.popDue(now, this.#due, count);
    }
    const heap = this.#heap;
    while (heap.peekTime() <= now) {
      this.#reserve(count + 1);
      this.#due[count++] = heap.peekSlot();
      heap.pop();
    }
    this.#length -= count;
    this.#findHead();
    return count;
  }

  /** The slots `popDue` removed last (valid until the next `popDue`). */
  get dueSlots(): Uint32Array {
    return this.#due;
  }

  /** Replaces the content with the given items (O(n)). */
  rebuild(times: Float64Array, slots: Uint32Array, count: number): void {
    this.#runs = [new TimeRun()];
    this.#heap.rebuild(times, slots, count);
    this.#length = count;
    this.#findHead();
  }

  /** Drops every item and shrinks back. */
  clear(): void {
    this.#runs = [new TimeRun()];
    this.#heap.clear();
    this.#length = 0;
    this.#due = new Uint32Array(1024);
    this.#head = HEAP;
    this.#headTime = Number.POSITIVE_INFINITY;
  }

  #reserve(count: number): void {
    if (count <= this.#due.length) return;
    let size = this.#due.length * 2;
    while (size < count) size *= 2;
    const grown = new Uint32Array(size);
    grown.set(this.#due);
    this.#due = grown;
  }

  /** The run that takes `time` (best fit, else an empty one, else a new one), or HEAP. */
  #runFor(time: number): number {
    if (!fitsRun(time)) return HEAP;
    const runs = this.#runs;
    let best = HEAP;
    let bestTail = Number.NEGATIVE_INFINITY;
    let empty = HEAP;
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!;
      if (run.length === 0) {
        if (empty === HEAP) empty = i;
        continue;
      }
      const tail = run.tailTime();
      if (tail <= time && tail > bestTail) {
        best = i;
        bestTail = tail;
      }
    }
    if (best !== HEAP) return best;
    if (empty !== HEAP) return empty;
    if (runs.length < MAX_RUNS) {
      runs.push(new TimeRun());
      return runs.length - 1;
    }
    return HEAP;
  }

  #findHead(): void {
    let head = HEAP;
    let headTime = this.#heap.peekTime();
    const runs = this.#runs;
    for (let i = 0; i < runs.length; i++) {
      const time = runs[i]!.peekTime();
      if (time < headTime) {
        head = i;
        headTime = time;
      }
    }
    this.#head = head;
    this.#headTime = headTime;
  }
}
