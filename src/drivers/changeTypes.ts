/** A change seen by `watch`. Values are not included: read the document if you need it. */
export interface ChangeEvent {
  /** What happened. */
  type: 'put' | 'delete' | 'expire';
  /** Namespace of the document. */
  namespace: string;
  /** Id of the document. */
  id: string;
  /** Revision after a put; the last revision for a delete or expiry (0 when unknown). */
  revision: number;
}

/** Receives change events. */
export type ChangeListener = (event: ChangeEvent) => void;

/** Options of `DocumentStore.watch`. */
export interface WatchOptions {
  /**
   * Called when events may have been missed: the driver's feed connection (PostgreSQL LISTEN, Redis
   * SUBSCRIBE) dropped and is back. Anything derived from earlier events must be re-read. Drivers whose
   * feed cannot lose events (memory, filesystem, SQLite's change log) never call it.
   */
  onReset?: () => void;
}

/** An active `watch`; `close()` stops delivery. */
export interface Subscription {
  /** Stops delivering events to the listener. */
  close(): Promise<void>;
}
