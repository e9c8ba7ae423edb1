/**
 * Write operations written once as generators, run by two tiny drivers. An operation yields each repository
 * result and is resumed with its value: the synchronous driver hands a value straight back (memory and
 * SQLite, so a whole operation stays one transaction with no await), the asynchronous one awaits the promise
 * first (PostgreSQL).
 *
 * Operations `yield` the repository call's result directly and cast what comes back, instead of delegating
 * to a typed helper generator per call: a helper (`yield* ask(...)`) allocates a generator for every
 * repository call, about four times the cost of the bare yield on the synchronous hot path.
 */

/** A repository result: a value (memory, SQLite) or a promise of one (PostgreSQL). */
export type Maybe<T> = T | PromiseLike<T>;

/** A write operation: yields repository results, is resumed with their values, returns `T`. */
export type Steps<T> = Generator<unknown, T, unknown>;

/** Runs an operation over a synchronous repository: every yielded value is already the result. */
export function runSync<T>(steps: Steps<T>): T {
  let step = steps.next();
  while (step.done !== true) step = steps.next(step.value);
  return step.value;
}

/** Runs an operation over an asynchronous repository, awaiting each yielded promise in turn. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let step = steps.next();
  while (step.done !== true) {
    let value: unknown;
    try {
      value = await step.value;
    } catch (error) {
      // Thrown into the operation at the yield that failed, so its own try/finally blocks run.
      step = steps.throw(error);
      continue;
    }
    step = steps.next(value);
  }
  return step.value;
}
