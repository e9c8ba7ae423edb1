import { codec as defaultCodec } from '../../codec/index.ts';
import { ClosedError } from '../../errors.ts';
import { reportBackgroundError } from '../../shared/backgroundErrors.ts';
import { ChangeHub } from '../shared/changeHub.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { batchOutcome, putResult } from '../shared/documents.ts';
import { getManyInChunks } from '../shared/getMany.ts';
import type { OptionSchema } from '../shared/optionSchema.ts';
import { payloadSettings } from '../shared/payload.ts';
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
import type {
  DeleteOptions,
  DocumentStore,
  DriverOptions,
  ListOptions,
  NamespaceListOptions,
  PutOptions,
  StoredDocument,
} from '../types.ts';
import { prepareBatch, prepareDelete, preparePut } from './ops.ts';
import { type RowReader, rowReader, withLazyStorage } from './rows.ts';
import type { DriverContext, Page, StorageDriver, StoredRow, Written } from './storage.ts';
import { wholeMilliseconds } from './ttl.ts';

/** What the shared layer needs to know of a driver besides its storage. */
export interface DriverSpec {
  /** `store.name`: `memory`, `sqlite`, ... */
  readonly name: string;
  /** The driver's name in messages about its options and background work (`SQLite`, `filesystem`). */
  readonly label: string;
  /** The driver's own options by kind (see shared/optionSchema.ts). */
  readonly options: OptionSchema;
}

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
  const settings = payloadSettings(options, spec.label, spec.options);
  const codec = options.codec ?? defaultCodec;
  const now = wholeMilliseconds(options.now ?? Date.now);
  const onError = options.onError;
  const reportError = (error: unknown, source: string, details?: Record<string, unknown>) =>
    reportBackgroundError(onError, error, { source: `${spec.label} ${source}`, ...(details && { details }) });
  const hub = new ChangeHub((error, event) =>
    reportError(error, 'watch listener', { namespace: event.namespace, id: event.id }),
  );
  const context: DriverContext = { codec, settings, now, hub, reportError, onError };
  const driver = make(context);
  const keepsEncoded = driver.keepsEncoded === true;
  const emitsWrites = driver.feedsOwnWrites !== true;
  const toDocument = rowReader(context, driver.where, driver.whereDetails ?? {});
  let closed = false;
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, () => {
    if (closed) return undefined;
    return Promise.resolve(driver.sweep(now(), true)).catch((error: unknown) => {
      if (!closed) reportError(error, 'sweep');
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

  const store: DocumentStore = {
    name: spec.name,

    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      open();
      checkKey(namespace, id);
      let row: StoredRow | undefined;
      try {
        row = await driver.read(namespace, id, now());
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
        written = await driver.write([op], t);
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

    async delete(namespace: string, id: string, opts?: DeleteOptions) {
      open();
      checkKey(namespace, id);
      checkDeleteOptions(opts, namespace, id);
      let written: Written[];
      try {
        written = await driver.write([prepareDelete(namespace, id, opts)], now());
      } catch (error) {
        fail(error, 'delete', { namespace, id });
      }
      const revision = written[0]!.revision;
      if (revision === 0) return false;
      if (emitsWrites) hub.emit({ type: 'delete', namespace, id, revision });
      return true;
    },

    async list<V>(namespace: string, opts?: ListOptions) {
      open();
      const query = checkList(namespace, opts);
      let page: Page<StoredRow>;
      try {
        page = await driver.scan(namespace, query, now());
      } catch (error) {
        fail(error, 'list', { namespace });
      }
      const items = page.items.map((row) => toDocument<V>(namespace, row.id!, row));
      return page.last === undefined ? { items } : { items, cursor: encodeCursor(page.last) };
    },

    async listNamespaces(opts?: NamespaceListOptions) {
      open();
      const query = checkNamespaceList(opts);
      let page: Page<string>;
      try {
        page = await driver.namespaces(query);
      } catch (error) {
        fail(error, 'listNamespaces');
      }
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
      let written: Written[];
      try {
        written = await driver.write(ops, t);
      } catch (error) {
        fail(error, 'batch');
      }
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
      try {
        await driver.startFeed?.();
      } catch (error) {
        fail(error, 'watch', { namespace });
      }
      const subscription = hub.subscribe(namespace, listener, watchOptions);
      if (!driver.stopFeed) return subscription;
      return {
        close: async () => {
          await subscription.close();
          if (!hub.active) driver.stopFeed?.();
        },
      };
    },

    async sweepExpired() {
      open();
      try {
        return await driver.sweep(now(), false);
      } catch (error) {
        fail(error, 'sweepExpired');
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      hub.clear();
      await driver.close();
    },
  };
  if (driver.readMany) {
    const readMany = driver.readMany.bind(driver);
    store.getMany = async <V>(namespace: string, ids: readonly string[]) => {
      open();
      const t = now();
      try {
        return await getManyInChunks<V>(namespace, ids, async (chunk) =>
          (await readMany(namespace, chunk, t)).map((row) => toDocument<V>(namespace, row.id!, row)),
        );
      } catch (error) {
        fail(error, 'getMany', { namespace });
      }
    };
  }
  return Object.assign(store, extra?.({ driver, toDocument, open })) as DocumentStore & X;
}
