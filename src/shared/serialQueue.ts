import { settled } from './settled.ts';

/**
 * Runs async tasks one at a time, in call order; a task that fails does not stop the ones after it
 * (each caller sees its own task's outcome). Saves and loads of one collection, thread or session go
 * through one, so their bookkeeping never interleaves.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it; resolves or rejects with its result. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    // The task's failure goes to the caller of `run`; the next task runs either way.
    this.#tail = settled(run);
    return run;
  }
}
