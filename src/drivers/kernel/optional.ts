import { getManyInChunks } from '../shared/getMany.ts';
import { checkPutOptions } from '../shared/validate.ts';
import type { DocumentStore } from '../types.ts';
import type { RowReader } from './rows.ts';
import type { MaybePromise, StorageDriver } from './storage.ts';
import { expiryTime } from './ttl.ts';

/** What the optional methods use of the store that gets them (see documentStore.ts). */
export interface StoreTools {
  open(): void;
  checkKey(namespace: string, id: string): void;
  guard<T>(call: () => MaybePromise<T>, operation: string, details?: Record<string, unknown>): Promise<T>;
  toDocument: RowReader;
  now(): number;
}

/** Adds `getMany` and `touch` to `store` where the driver can do them in one step (`readMany`, `touch`). */
export function addOptionalMethods(store: DocumentStore, driver: StorageDriver, tools: StoreTools): void {
  const { open, checkKey, guard, toDocument, now } = tools;
  const { readMany, touch } = driver;
  if (readMany) {
    store.getMany = async <V>(namespace: string, ids: readonly string[]) => {
      open();
      const t = now();
      const read = async (chunk: readonly string[]) =>
        (await guard(() => readMany.call(driver, namespace, chunk, t), 'getMany', { namespace })).map((row) =>
          toDocument<V>(namespace, row.id!, row),
        );
      return getManyInChunks<V>(namespace, ids, read);
    };
  }
  if (touch) {
    store.touch = async (namespace: string, id: string, ttlMs: number) => {
      open();
      checkKey(namespace, id);
      checkPutOptions({ ttlMs }, namespace, id);
      const t = now();
      return guard(() => touch.call(driver, namespace, id, expiryTime(t, ttlMs), t), 'touch', {
        namespace,
        id,
      });
    };
  }
}
