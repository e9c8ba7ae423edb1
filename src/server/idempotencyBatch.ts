/**
 * Gathers the calls made in one event-loop turn and runs them as one: under load, the requests parsed in
 * one turn claim their idempotency keys with one statement, not one each (the same idea as the rollout
 * stores' group commit, for a table with no transaction to share).
 */

interface Queued<I, O> {
  item: I;
  bytes: number;
  resolve(output: O): void;
  reject(error: unknown): void;
}

/** Runs the items added in one turn together, at most `maxItems` and `maxBytes` per run. */
export class TurnBatcher<I, O> {
  readonly #run: (items: I[]) => Promise<O[]>;
  readonly #maxItems: number;
  readonly #maxBytes: number;
  #queue: Array<Queued<I, O>> = [];
  #scheduled = false;

  /** `run` gets the items of one batch and resolves with one output per item, in order. */
  constructor(run: (items: I[]) => Promise<O[]>, maxItems: number, maxBytes = Number.POSITIVE_INFINITY) {
    this.#run = run;
    this.#maxItems = maxItems;
    this.#maxBytes = maxBytes;
  }

  /** Queues `item` (weighing `bytes` against the batch's byte budget) for the batch of this turn. */
  add(item: I, bytes = 0): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, bytes, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // setImmediate, not a microtask: it runs after the turn's I/O callbacks, so every request parsed in
      // this turn has queued its item by then.
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let start = 0; start < queue.length; ) {
      let end = start;
      let bytes = 0;
      // At least one item per batch, however heavy; then as many as fit both budgets.
      while (
        end < queue.length &&
        end - start < this.#maxItems &&
        (end === start || bytes + queue[end]!.bytes <= this.#maxBytes)
      ) {
        bytes += queue[end]!.bytes;
        end += 1;
      }
      const part = queue.slice(start, end);
      this.#run(part.map((q) => q.item)).then(
        (outputs) => {
          for (const [i, q] of part.entries()) q.resolve(outputs[i]!);
        },
        (error: unknown) => {
          for (const q of part) q.reject(error);
        },
      );
      start = end;
    }
  }
}
