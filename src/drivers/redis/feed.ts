import type { Redis } from 'ioredis';
import { idFromKey } from '../../shared/idKey.ts';
import type { ChangeHub } from '../shared/changeHub.ts';

/**
 * The Redis driver's change feed: a second connection SUBSCRIBEd to the store's channel, delivering the
 * events the write scripts publish (this store's and every other's) to `hub`. ioredis reconnects and
 * resubscribes by itself, but messages published while the connection was down are gone (pub/sub keeps
 * nothing): once subscribed again, the watchers are told to re-read (`hub.reset`).
 */
export class RedisFeed {
  readonly #subscriber: Redis;
  #closed = false;

  private constructor(subscriber: Redis) {
    this.#subscriber = subscriber;
  }

  /** Subscribes a duplicate of `redis` to `channel`; a failed resubscription goes to `report`. */
  static async start(redis: Redis, channel: string, hub: ChangeHub, report: (error: unknown) => void) {
    const feed = new RedisFeed(redis.duplicate());
    const subscriber = feed.#subscriber;
    subscriber.on('message', (_channel: string, message: string) => {
      let event: { t: 'put' | 'delete' | 'expire'; n: string; k: string; r: number };
      try {
        event = JSON.parse(message);
      } catch {
        return; // not ours: someone else publishing on the channel
      }
      hub.emit({
        type: event.t,
        namespace: event.n,
        id: idFromKey(Buffer.from(event.k, 'hex')),
        revision: event.r,
      });
    });
    try {
      await subscriber.subscribe(channel);
    } catch (error) {
      subscriber.disconnect();
      throw error;
    }
    subscriber.on('ready', () => {
      if (feed.#closed) return;
      // Dropped again before it resubscribed: reported, and the next 'ready' retries.
      subscriber.subscribe(channel).then(() => hub.reset(), report);
    });
    return feed;
  }

  /** Disconnects the subscriber. */
  close(): void {
    this.#closed = true;
    this.#subscriber.disconnect();
  }
}
