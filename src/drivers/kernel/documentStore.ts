import { ClosedError } from '../../errors.ts';
import { encodeCursor } from '../../shared/cursor.ts';
import { batchOutcome, putResult } from '../shared/documents.ts';
import { startSweepTimer } from '../shared/sweepTimer.ts';
import {
  checkBatch,
  checkDeleteOptions,
  checkDocumentKey,
  checkList,
  checkNamespaceList,
  checkPutOptions,
  checkWatchNamespace,
} from '../shared/validate.ts';
import type { DocumentStore, DriverOptions, ListOptions, PutOptions, StoredDocument } from '../types.ts';
import { type DriverSpec, driverContext } from './context.ts';
import { prepareBatch, prepareDelete, preparePut } from './ops.ts';
import { addOptionalMethods } from './optional.ts';
import { type RowReader, rowReader, withLazyStorage } from './rows.ts';
import type { DriverContext, MaybePromise, StorageDriver, StoredRow, Written } from './storage.ts';

/**
 * A `DocumentStore` over a driver's storage: every argument check, the closed check, codec and payload,
 * TTL arithmetic (kernel/ttl.ts), change events of this store's writes, the sweep timer and the reporting
 * of background failures to `onError` live here once. `make` builds the driver once the options are valid.
 * `extra` adds driver-specific methods (they call `open` first to refuse calls after close).
 */
export function createDocumentStore<D extends StorageDriver, X extends object = object>(
  spec: DriverSpec,
  options: DriverOptions,
  make: (context: DriverContext) => D,
  extra?: (tools: { driver: D; toDocument: RowReader; open: () => void }) => X,
): DocumentStore & X {
  const context = driverContext(spec, options);
  const { codec, settings, now, hub, reportError } = context;
  const driver = make(context);
  const keepsEncoded = driver.keepsEncoded === true;
  const emitsWrites = driver.feedsOwnWrites !== true;
  const toDocument = rowReader(context, driver.where, driver.whereDetails ?? {});
  let closed = false;
  // Nobody awaits the timer: a failed sweep, thrown or rejected, goes to onError (unless closing).
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, () => {
    if (closed) return;
    Promise.resolve()
      .then(() => driver.sweep(now(), true))
      .catch((error: unknown) => {
        if (!closed) reportError(driver.failure ? driver.failure(error, 'sweep', {}) : error, 'sweep');
      });
  });

  function open(): void {
    if (closed) throw new ClosedError(`the ${spec.label} store is closed`, { driver: spec.name });
  }
  function checkKey(namespace: string, id: string): void {
    checkDocumentKey(namespace, id);
    driver.checkId?.(namespace, id);
  }
  // A driver's failure as the error to throw (codes, details); ours pass through.
  function fail(error: unknown, operation: string, details: Record<string, unknown> = {}): never {
    throw driver.failure ? driver.failure(error, operation, details) : error;
  }
  // A driver call off the hot paths (get and put inline theirs), its failure passed through `fail`.
  async function guard<T>(call: () => MaybePromise<T>, operation: string, details?: Record<string, unknown>) {
    try {
      return await call();
    } catch (error) {
      fail(error, operation, details);
    }
  }

  const store: DocumentStore = {
    name: spec.name,
    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      open();
      checkKey(namespace, id);
      let row: StoredRow | undefined;
      try {
        // An in-process driver answers at once: awaiting only promises saves a turn of the event loop.
        const read = driver.read(namespace, id, now());
        row = read instanceof Promise ? await read : read;
      } catch (error) {
        fail(error, 'get', { namespace, id });
      }
      return row && toDocument<V>(namespace, id, row);
    },

    async put<V>(namespace: string, id: string, value: V, opts?: PutOptions) {
      open();
      checkKey(namespace, id);
      checkPutOptions(opts, namespace, id);
      const t = now();
      const op = preparePut(codec, settings, keepsEncoded, namespace, id, value, opts, t);
      let written: Written[];
      try {
        const write = driver.write([op], t);
        written = write instanceof Promise ? await write : write;
      } catch (error) {
        fail(error, 'put', { namespace, id });
      }
      const { revision, createdAt } = written[0]!;
      if (emitsWrites) hub.emit({ type: 'put', namespace, id, revision });
      const fields = {
        revision,
        createdAt,
        updatedAt: t,
        ...(op.expiresAt !== undefined && { expiresAt: op.expiresAt }),
        ...(op.packed !== undefined && { storage: op.packed.storage }),
      };
      const doc = putResult<V>(codec, namespace, id, fields, op.encoded, op.metadata);
      return op.packed === undefined ? withLazyStorage(doc, op.storage) : doc;
    },

    async delete(namespace, id, opts) {
      open();
      checkKey(namespace, id);
      checkDeleteOptions(opts, namespace, id);
      const written = await guard(() => driver.write([prepareDelete(namespace, id, opts)], now()), 'delete', {
        namespace,
        id,
      });
      const revision = written[0]!.revision;
      if (revision === 0) return false;
      if (emitsWrites) hub.emit({ type: 'delete', namespace, id, revision });
      return true;
    },

    async list<V>(namespace: string, opts?: ListOptions) {
      open();
      const query = checkList(namespace, opts);
      const page = await guard(() => driver.scan(namespace, query, now()), 'list', { namespace });
      const items = page.items.map((row) => toDocument<V>(namespace, row.id!, row));
      return page.last === undefined ? { items } : { items, cursor: encodeCursor(page.last) };
    },

    async listNamespaces(opts) {
      open();
      const query = checkNamespaceList(opts);
      const page = await guard(() => driver.namespaces(query), 'listNamespaces');
      const namespaces = page.items;
      return page.last === undefined ? { namespaces } : { namespaces, cursor: encodeCursor(page.last) };
    },

    async batch(operations) {
      open();
      checkBatch(operations);
      for (const op of operations) driver.checkId?.(op.namespace, op.id);
      if (operations.length === 0) return { results: [] };
      const t = now();
      const ops = prepareBatch(codec, settings, keepsEncoded, operations, t);
      const written = await guard(() => driver.write(ops, t), 'batch');
      const { results, events } = batchOutcome(
        operations,
        written.map((w) => w.revision),
      );
      if (emitsWrites) for (const event of events) hub.emit(event);
      return { results };
    },

    async watch(namespace, listener, watchOptions) {
      open();
      checkWatchNamespace(namespace);
      // Subscribed before the feed is started: the last other subscription, closing meanwhile, then sees
      // this one and leaves the feed running (subscribed after, it found none and stopped the feed).
      const subscription = hub.subscribe(namespace, listener, watchOptions);
      const leave = async () => {
        await subscription.close();
        if (!hub.active) driver.stopFeed?.();
      };
      try {
        await guard(() => driver.startFeed?.(), 'watch', { namespace });
      } catch (error) {
        await leave();
        throw error;
      }
      return driver.stopFeed ? { close: leave } : subscription;
    },

    async sweepExpired() {
      open();
      return guard(() => driver.sweep(now(), false), 'sweepExpired');
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      hub.clear();
      await driver.close();
    },
  };
  addOptionalMethods(store, driver, { open, checkKey, guard, toDocument, now });
  return Object.assign(store, extra?.({ driver, toDocument, open })) as DocumentStore & X;
}
