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
 * Binary min-heap of expiry times. Sweeping pops only the items that are due, so its cost follows the
 * number of documents that expire, not the number stored. Entries are never removed on overwrite: a
 * popped item is checked against the document's current expiry and ignored when it no longer matches.
 */
export class ExpiryHeap {
  readonly #items: ExpiryItem[] = [];

  /** Number of scheduled items (including stale ones). */
  get size(): number {
    return this.#items.length;
  }

  /** Schedules an expiry. */
  push(item: ExpiryItem): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.at <= item.at) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  /** Removes and returns the earliest item if it is due at `now`. */
  popDue(now: number): ExpiryItem | undefined {
    const items = this.#items;
    const top = items[0];
    if (!top || top.at > now) return undefined;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      const n = items.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && items[r]!.at < items[l]!.at ? r : l;
        if (items[child]!.at >= last.at) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }

  /** Drops everything. */
  clear(): void {
    this.#items.length = 0;
  }
}
