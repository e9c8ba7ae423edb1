/**
 * A bounded batch of change events waiting to be sent: a change repeated before the batch is taken is kept
 * once, at most `maxEvents` distinct changes are kept, and beyond that one id-less event per kind stands
 * for the rest ("something of this kind changed", which makes every page re-read). Used where events are
 * sent in batches: the PostgreSQL relay's NOTIFYs and the TTL store's feed.
 */
import type { ChangeEventMessage } from './hub.ts';

/** Distinct events a batch keeps by default. */
export const MAX_BATCH_EVENTS = 500;

/** Change events gathered between two flushes, bounded. */
export class EventBatch {
  readonly #events = new Map<string, ChangeEventMessage>();
  readonly #maxEvents: number;

  /** A batch keeping at most `maxEvents` distinct events (plus one overflow event per kind). */
  constructor(maxEvents = MAX_BATCH_EVENTS) {
    this.#maxEvents = maxEvents;
  }

  /** Events waiting. */
  get size(): number {
    return this.#events.size;
  }

  /** Adds an event (a repeat of one waiting replaces it). */
  add(event: ChangeEventMessage): void {
    const key = `${event.kind}\u0000${event.action}\u0000${event.namespace ?? ''}\u0000${event.id ?? ''}`;
    if (this.#events.size < this.#maxEvents || this.#events.has(key)) this.#events.set(key, event);
    else
      this.#events.set(`${event.kind}\u0000overflow`, {
        kind: event.kind,
        action: 'many changes',
        at: event.at,
      });
  }

  /** The events waiting, in the order first added; the batch is empty afterwards. */
  take(): ChangeEventMessage[] {
    const events = [...this.#events.values()];
    this.#events.clear();
    return events;
  }
}
