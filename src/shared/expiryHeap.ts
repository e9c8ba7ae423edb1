import { TimeHeap } from './timeHeap.ts';

/** A document key with the expiry time it was scheduled for. */
export interface ExpiryItem {
  /** Epoch ms at which the document expires. */
  at: number;
  /** Namespace of the document. */
  namespace: string;
  /** Id of the document. */
  id: string;
}

/**
 * Expiry times of documents, earliest first. Sweeping pops only the items that are due, so its cost follows
 * the number of documents that expire, not the number stored. Entries are never removed on overwrite: a
 * popped item is checked against the document's current expiry and ignored when it no longer matches.
 *
 * The ordering is the package's one heap (`TimeHeap`, also under the TTL store); this class only keeps
 * the items in numbered slots (reused after a pop) and gives the heap their slot numbers.
 */
export class ExpiryHeap {
  readonly #heap = new TimeHeap(64);
  readonly #items: Array<ExpiryItem | undefined> = [];
  readonly #freeSlots: number[] = [];

  /** Number of scheduled items (including stale ones). */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules an expiry. */
  push(item: ExpiryItem): void {
    const slot = this.#freeSlots.pop() ?? this.#items.length;
    this.#items[slot] = item;
    this.#heap.push(item.at, slot);
  }

  /** Removes and returns the earliest item if it is due at `now`. */
  popDue(now: number): ExpiryItem | undefined {
    if (this.#heap.peekTime() > now) return undefined;
    const slot = this.#heap.peekSlot();
    this.#heap.pop();
    const item = this.#items[slot];
    this.#items[slot] = undefined;
    this.#freeSlots.push(slot);
    return item;
  }

  /** Drops everything. */
  clear(): void {
    this.#heap.clear();
    this.#items.length = 0;
    this.#freeSlots.length = 0;
  }
}
