import type { BatchOperation, DocumentStore } from '../../src/drivers/index.ts';

/** A store that records every batch it is given, to see what a save writes. */
export function recordingBatches(store: DocumentStore): {
  store: DocumentStore;
  batches: BatchOperation[][];
} {
  const batches: BatchOperation[][] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'batch') {
        return (operations: BatchOperation[]) => {
          batches.push(operations);
          return target.batch(operations);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, batches };
}
