import { reportBackgroundError } from '../../shared/backgroundErrors.ts';
import type { ChangeEvent, ChangeListener, Subscription, WatchOptions } from '../types.ts';

/**
 * In-process fan-out of change events to `watch` listeners, by namespace and `*`. A listener that
 * throws is reported through `onListenerError` and never stops delivery to the others or the write.
 */
export class ChangeHub {
  readonly #listeners = new Map<string, Set<ChangeListener>>();
  readonly #resetHandlers = new Set<() => void>();
  readonly #onListenerError: (error: unknown, event: ChangeEvent) => void;

  constructor(onListenerError: (error: unknown, event: ChangeEvent) => void = reportListenerError) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener for a namespace or `*`. */
  subscribe(namespace: string, listener: ChangeListener, options: WatchOptions = {}): Subscription {
    const onReset = options.onReset;
    if (onReset) this.#resetHandlers.add(onReset);
    let set = this.#listeners.get(namespace);
    if (!set) {
      set = new Set();
      this.#listeners.set(namespace, set);
    }
    set.add(listener);
    return {
      close: async () => {
        if (onReset) this.#resetHandlers.delete(onReset);
        set.delete(listener);
        if (set.size === 0 && this.#listeners.get(namespace) === set) this.#listeners.delete(namespace);
      },
    };
  }

  /** Whether anyone listens at all (lets drivers skip building events). */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Number of namespaces (including `*`) with listeners. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Delivers an event to the namespace's listeners and the `*` listeners. */
  emit(event: ChangeEvent): void {
    if (this.#listeners.size === 0) return;
    this.#deliver(this.#listeners.get(event.namespace), event);
    this.#deliver(this.#listeners.get('*'), event);
  }

  /** Tells every subscriber that asked (`onReset`) that events may have been missed. */
  reset(): void {
    for (const onReset of this.#resetHandlers) {
      try {
        onReset();
      } catch (error) {
        this.#onListenerError(error, { type: 'put', namespace: '*', id: '', revision: 0 });
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    this.#listeners.clear();
    this.#resetHandlers.clear();
  }

  #deliver(set: Set<ChangeListener> | undefined, event: ChangeEvent): void {
    if (!set) return;
    for (const listener of set) {
      try {
        listener({ ...event });
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}

// Without a handler, a listener's failure goes where every background error does by default.
function reportListenerError(error: unknown, event: ChangeEvent): void {
  reportBackgroundError(undefined, error, {
    source: 'watch listener',
    details: { namespace: event.namespace, id: event.id },
  });
}
