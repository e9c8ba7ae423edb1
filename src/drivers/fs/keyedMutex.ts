/**
 * Per-key async mutex. Writes to one document are serialised so that reading its revision and replacing
 * its file form one step: without it two concurrent compare-and-set writers could both see revision 1 and
 * both succeed. Writes to different documents still run concurrently.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  /** Waits for the keys (sorted, so two multi-key holders can never deadlock) and returns the release. */
  async lock(keys: Iterable<string>): Promise<() => void> {
    const releases: Array<() => void> = [];
    for (const key of [...new Set(keys)].sort()) releases.push(await this.#acquire(key));
    return () => {
      for (const release of releases) release();
    };
  }

  async #acquire(key: string): Promise<() => void> {
    const previous = this.#tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => mine) : mine;
    this.#tails.set(key, tail);
    if (previous) await previous;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
