import { createDocumentStore } from './kernel/documentStore.ts';
import { namespacePage, pageOf } from './kernel/pages.ts';
import { planWrites } from './kernel/revisions.ts';
import { firstIds } from './memory/firstIds.ts';
import { MemoryTable } from './memory/table.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import type { DocumentStore, DriverOptions } from './types.ts';

/** Options of `createMemoryStore`. */
export type MemoryStoreOptions = DriverOptions;

/** The memory driver has no options beyond `DriverOptions`. */
export const MEMORY_STORE_OPTIONS = {} as const satisfies OptionSchemaOf<
  Omit<MemoryStoreOptions, keyof DriverOptions>
>;

const SPEC = { name: 'memory', label: 'memory', options: MEMORY_STORE_OPTIONS };

/** A `DocumentStore` in process memory: for tests, caches and single-process tools. Nothing survives a restart. */
export function createMemoryStore(options: MemoryStoreOptions = {}): DocumentStore {
  return createDocumentStore(SPEC, options, ({ hub }) => {
    const table = new MemoryTable();
    return {
      where: 'memory',
      keepsEncoded: true,
      read: (namespace, id, now) => table.live(namespace, id, now),
      touch: (namespace, id, expiresAt, now) => table.touch(namespace, id, expiresAt, now),
      scan(namespace, query, now) {
        const rows = table.rows(namespace);
        if (!rows) return { items: [] };
        const ids = firstIds(rows.keys(), query, (id) => table.live(namespace, id, now) !== undefined);
        return pageOf(
          ids.map((id) => rows.get(id)!),
          query.limit,
          (row) => row.id!,
        );
      },
      namespaces: (query) => namespacePage(table.namespaces(), query),
      write(ops, now) {
        const written = planWrites(ops, now, table);
        for (let i = 0; i < ops.length; i++) {
          const op = ops[i]!;
          if (op.type === 'put') table.put(op, written[i]!, now);
          else if (written[i]!.revision > 0) table.delete(op.namespace, op.id);
        }
        return written;
      },
      sweep: (now) =>
        table.sweep(now, (namespace, id, revision) => hub.emit({ type: 'expire', namespace, id, revision })),
      close: () => table.clear(),
    };
  });
}
