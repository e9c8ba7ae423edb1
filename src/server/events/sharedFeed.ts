/**
 * A change source opened while at least one client wants its events and closed when the last one leaves:
 * watching has a cost (on PostgreSQL a watched schema makes every document write NOTIFY; a TTL store with
 * a listener builds an event per write) that nobody should pay while no dashboard is open.
 */

/** Opens the source; resolves with the function that closes it. */
export type FeedOpener = () => Promise<() => Promise<void>>;

/** A reference-counted change source. */
export class SharedFeed {
  readonly #open: FeedOpener;
  readonly #onError: (error: unknown, what: 'open' | 'close') => void;
  #clients = 0;
  #opened: Promise<(() => Promise<void>) | undefined> | undefined;

  /**
   * A feed opened with `open`; an opening that fails is reported to `onError` and the clients get no
   * events; a closing that fails is reported too.
   */
  constructor(open: FeedOpener, onError: (error: unknown, what: 'open' | 'close') => void) {
    this.#open = open;
    this.#onError = onError;
  }

  /** One more client wants the events; resolves once the source is open. */
  async acquire(): Promise<void> {
    this.#clients += 1;
    this.#opened ??= this.#open().catch((error: unknown) => {
      this.#onError(error, 'open');
      return undefined;
    });
    await this.#opened;
  }

  /** A client left; the last one closes the source. */
  release(): void {
    this.#clients -= 1;
    if (this.#clients > 0) return;
    void this.close();
  }

  /** Closes the source now (the server is closing). */
  async close(): Promise<void> {
    const opened = this.#opened;
    this.#opened = undefined;
    // An opening that failed resolved to undefined (already reported): only the close can fail here.
    await opened?.then((close) => close?.()).catch((error: unknown) => this.#onError(error, 'close'));
  }
}
