import { BaseRevisionMismatchError, InvalidInputError, ParallelMergeConflictError } from '../errors.ts';
import type { AnyStateKey, StateKey } from './key.ts';

/** One recorded update: the key and the update value, applied by `commit` in order. */
export interface MutationOp {
  /** The key to update. */
  readonly key: AnyStateKey;
  /** The update passed to the key's `apply`. */
  readonly update: unknown;
}

/** Options of `new MutationBatch`. */
export interface MutationBatchOptions {
  /** Called on every `update` so unknown keys fail where they are used (the store passes its check). */
  checkKey?: (key: AnyStateKey) => void;
  /** Restore generation of the store the batch belongs to (the store sets it; default 0). */
  epoch?: number;
  /** The store the batch belongs to (the store sets it); a commit to any other store is refused. */
  origin?: object;
}

/**
 * Updates recorded against one base revision, applied all at once by `StateStore.commit`. Nothing is
 * applied while recording, so a batch can be discarded freely.
 */
export class MutationBatch {
  /** The store revision the batch was started from; `commit` refuses it once the store has moved on. */
  readonly baseRevision: number;
  /** Restore generation of the store when the batch was started; a restore makes older batches stale. */
  readonly epoch: number;
  /** The store that started the batch; undefined for a batch made with `new MutationBatch`. */
  readonly origin: object | undefined;
  readonly #ops: MutationOp[] = [];
  readonly #checkKey: ((key: AnyStateKey) => void) | undefined;

  /** A batch on `baseRevision`; usually made by `store.batch()`. */
  constructor(baseRevision: number, options: MutationBatchOptions = {}) {
    if (!Number.isSafeInteger(baseRevision) || baseRevision < 0) {
      throw new InvalidInputError(
        `baseRevision must be a non-negative integer, got ${String(baseRevision)}`,
        {
          baseRevision,
        },
      );
    }
    this.baseRevision = baseRevision;
    this.epoch = options.epoch ?? 0;
    this.origin = options.origin;
    this.#checkKey = options.checkKey;
  }

  /** Records an update of `key`. The update type is checked against the key's `Update` type. */
  update<V, U>(key: StateKey<V, U>, update: NoInfer<U>): this {
    const anyKey = key as unknown as AnyStateKey;
    this.#checkKey?.(anyKey);
    this.#ops.push({ key: anyKey, update });
    return this;
  }

  /** The recorded ops, in order. */
  get ops(): readonly MutationOp[] {
    return this.#ops;
  }

  /** Number of recorded ops. */
  get size(): number {
    return this.#ops.length;
  }

  /** Names of the keys this batch touches. */
  touchedKeys(): Set<string> {
    const names = new Set<string>();
    for (const op of this.#ops) names.add(op.key.key);
    return names;
  }

  /**
   * Merges batches made in parallel from one base revision into one batch. Two batches that touch the
   * same `exclusive` key throw `ParallelMergeConflictError` naming the key (the seed checks this only in
   * its tests; here it is always enforced). Ops of `commutative` keys, and all other ops, are concatenated
   * in batch order. Batches from different revisions throw `BaseRevisionMismatchError`.
   */
  static mergeParallel(...batches: MutationBatch[]): MutationBatch {
    const first = batches[0];
    if (!first) throw new InvalidInputError('mergeParallel needs at least one batch');
    for (let i = 1; i < batches.length; i++) {
      const batch = batches[i]!;
      if (batch.origin !== first.origin) {
        throw new BaseRevisionMismatchError(
          `parallel batches must share one base revision: batch ${i} was started on another store than batch 0`,
          { batchIndex: i, expectedRevision: first.baseRevision, actualRevision: batch.baseRevision },
        );
      }
      if (batch.baseRevision !== first.baseRevision || batch.epoch !== first.epoch) {
        throw new BaseRevisionMismatchError(
          batch.epoch !== first.epoch
            ? `parallel batches must share one base revision: batch ${i} was started on the other side of a store restore than batch 0`
            : `parallel batches must share one base revision: batch 0 is at ${first.baseRevision}, batch ${i} at ${batch.baseRevision}`,
          { batchIndex: i, expectedRevision: first.baseRevision, actualRevision: batch.baseRevision },
        );
      }
    }
    const conflict = findExclusiveConflict(batches);
    if (conflict) {
      throw new ParallelMergeConflictError(
        `parallel batches ${conflict.first} and ${conflict.second} both write exclusive state key '${conflict.key}'; make the key commutative or run the tasks one after another`,
        {
          key: conflict.key,
          batches: [conflict.first, conflict.second],
          baseRevision: first.baseRevision,
        },
      );
    }
    const merged = new MutationBatch(first.baseRevision, {
      checkKey: first.#checkKey,
      epoch: first.epoch,
      ...(first.origin !== undefined && { origin: first.origin }),
    });
    for (const batch of batches) merged.#ops.push(...batch.#ops);
    return merged;
  }
}

/** The first exclusive key written by two of the batches, if any. */
export function findExclusiveConflict(
  batches: readonly MutationBatch[],
): { key: string; first: number; second: number } | undefined {
  const owner = new Map<string, number>();
  for (let i = 0; i < batches.length; i++) {
    for (const op of batches[i]!.ops) {
      if (op.key.merge !== 'exclusive') continue;
      const previous = owner.get(op.key.key);
      if (previous === undefined) owner.set(op.key.key, i);
      else if (previous !== i) return { key: op.key.key, first: previous, second: i };
    }
  }
  return undefined;
}
