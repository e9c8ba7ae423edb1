import {
  BaseStore,
  type GetOperation,
  InvalidNamespaceError,
  type Item,
  type ListNamespacesOperation,
  type MatchCondition,
  type Operation,
  type OperationResults,
  type PutOperation,
  type SearchItem,
  type SearchOperation,
} from '@langchain/langgraph-checkpoint';
import type { BatchOperation, DocumentStore, StoredDocument } from '../../drivers/index.ts';
import { listAll, touchExpiry } from '../../drivers/index.ts';
import { InvalidInputError } from '../../errors.ts';
import { encodeCursor } from '../../shared/cursor.ts';
import { checkIdentifier, part } from './keys.ts';

/** Options of `new AgentStateStore`. */
export interface AgentStateStoreOptions {
  /** Namespace of the item documents (default `langgraph.store`). */
  namespace?: string;
  /** Time to live of every item put, ms (default: items do not expire). */
  ttlMs?: number;
  /** Whether `get` and `search` restart an item's time to live (default false). */
  refreshOnRead?: boolean;
}

interface ItemDoc {
  namespace: string[];
  key: string;
  value: Record<string, unknown>;
  ttlMs?: number;
}

// Namespace labels are written as `<length>:<label>` parts (see keys.ts) and the key follows `#`, which
// cannot start a part: a namespace prefix is then an id prefix that matches whole labels only.
const KEY_MARK = '#';
// Above every character that can start a part (a digit) or follow the key mark: `<id prefix>` + this sorts
// after every id with that prefix.
const PAST_EVERY_PART = '\uffff';
const PAGE = 500;
const FILTER_OPERATORS = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin']);

/**
 * LangGraph.js long-term memory (`BaseStore`) on any agentstate `DocumentStore`: items by namespace and
 * key, `search` by namespace prefix with the official filter operators (`$eq`, `$ne`, `$gt`, `$gte`,
 * `$lt`, `$lte`, `$in`, `$nin`), `limit` and `offset`, `listNamespaces`, and per-item time to live
 * (`ttlMs`, driven by the driver's own expiry, optionally restarted on read). Semantic `query` search
 * needs an embedding index, which this store does not keep: `query` is ignored, as `InMemoryStore`
 * without an index ignores it.
 */
export class AgentStateStore extends BaseStore {
  /** The storage. */
  readonly documents: DocumentStore;
  readonly #namespace: string;
  readonly #ttlMs: number | undefined;
  readonly #refreshOnRead: boolean;

  /** A store over `documents`. */
  constructor(documents: DocumentStore, options: AgentStateStoreOptions = {}) {
    super();
    this.documents = documents;
    this.#namespace = options.namespace ?? 'langgraph.store';
    if (options.ttlMs !== undefined && !(Number.isFinite(options.ttlMs) && options.ttlMs > 0)) {
      throw new InvalidInputError('ttlMs must be a positive number of milliseconds', {
        ttlMs: options.ttlMs,
      });
    }
    this.#ttlMs = options.ttlMs;
    this.#refreshOnRead = options.refreshOnRead ?? false;
  }

  /** Puts an item with its own time to live (`ttlMs`), overriding the store's default. */
  async putWithTtl(
    namespace: string[],
    key: string,
    value: Record<string, unknown>,
    ttlMs: number,
  ): Promise<void> {
    if (!(Number.isFinite(ttlMs) && ttlMs > 0)) {
      throw new InvalidInputError('ttlMs must be a positive number of milliseconds', { ttlMs, key });
    }
    checkNamespace(namespace);
    await this.documents.batch([this.#putOperation({ namespace, key, value }, ttlMs)]);
  }

  /** Runs operations in order: reads see the store before this batch's puts, which apply together at the end. */
  async batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>> {
    const results: unknown[] = [];
    const writes = new Map<string, BatchOperation>();
    for (const op of operations) {
      if ('namespacePrefix' in op) results.push(await this.#search(op));
      else if ('matchConditions' in op) {
        results.push(await this.#listNamespaces(op as ListNamespacesOperation));
      } else if ('value' in op) {
        const put = op as PutOperation;
        checkNamespace(put.namespace);
        const write = this.#putOperation(put, this.#ttlMs);
        writes.set(write.id, write); // the last write of a key wins, as in InMemoryStore
        results.push(undefined);
      } else results.push(await this.#get(op as GetOperation));
    }
    if (writes.size > 0) await this.documents.batch([...writes.values()]);
    return results as OperationResults<Op>;
  }

  #putOperation(
    op: Pick<PutOperation, 'namespace' | 'key' | 'value'>,
    ttlMs: number | undefined,
  ): BatchOperation {
    const id = itemId(op.namespace, checkIdentifier('key', op.key));
    if (op.value === null) return { type: 'delete', namespace: this.#namespace, id };
    if (typeof op.value !== 'object' || Array.isArray(op.value)) {
      throw new InvalidInputError('a store item value must be an object', {
        namespace: op.namespace,
        key: op.key,
      });
    }
    const value: ItemDoc = { namespace: [...op.namespace], key: op.key, value: op.value };
    if (ttlMs !== undefined) value.ttlMs = ttlMs;
    return {
      type: 'put',
      namespace: this.#namespace,
      id,
      value,
      ...(ttlMs !== undefined ? { options: { ttlMs } } : {}),
    };
  }

  async #get(op: GetOperation): Promise<Item | null> {
    checkNamespace(op.namespace);
    const doc = await this.documents.get<ItemDoc>(
      this.#namespace,
      itemId(op.namespace, checkIdentifier('key', op.key)),
    );
    if (doc === undefined) return null;
    await this.#refresh([doc]);
    return toItem(doc);
  }

  async #search(op: SearchOperation): Promise<SearchItem[]> {
    const limit = op.limit ?? 10;
    const offset = op.offset ?? 0;
    if (!Number.isSafeInteger(limit) || limit < 0 || !Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidInputError('search limit and offset must be non-negative integers', { limit, offset });
    }
    for (const label of op.namespacePrefix) checkIdentifier('namespace label', label);
    const prefix = op.namespacePrefix.map(part).join('');
    const found: StoredDocument<ItemDoc>[] = [];
    let skipped = 0;
    for await (const doc of listAll<ItemDoc>(this.documents, this.#namespace, prefix, PAGE)) {
      if (found.length >= limit) break;
      if (op.filter && !Object.entries(op.filter).every(([key, want]) => matches(doc.value.value[key], want)))
        continue;
      if (skipped < offset) {
        skipped += 1;
        continue;
      }
      found.push(doc);
    }
    await this.#refresh(found);
    return found.map((doc) => ({ ...toItem(doc), score: undefined }));
  }

  // A skip scan over item ids, which are ordered by namespace (see itemId): one item is read per distinct
  // namespace, then the listing jumps past the rest of that namespace (past everything under its first
  // `maxDepth` labels once those are listed), so the cost follows the number of namespaces, not of items.
  // The literal leading labels of a prefix condition narrow the scan. Sorted as InMemoryStore sorts.
  async #listNamespaces(op: ListNamespacesOperation): Promise<string[][]> {
    const seen = new Map<string, string[]>();
    const literal: string[] = [];
    const prefixCondition = op.matchConditions?.find((condition) => condition.matchType === 'prefix');
    for (const label of prefixCondition?.path ?? []) {
      if (label === '*') break;
      literal.push(checkIdentifier('namespace label', label));
    }
    const prefix = literal.map(part).join('');
    let after: string | undefined;
    for (;;) {
      const page = await this.documents.list<ItemDoc>(this.#namespace, {
        prefix,
        limit: 1,
        ...(after !== undefined && { cursor: encodeCursor(after) }),
      });
      const doc = page.items[0];
      if (doc === undefined) break;
      const namespace = doc.value.namespace;
      let skipPast = namespace.map(part).join('') + KEY_MARK + PAST_EVERY_PART;
      if (
        !op.matchConditions ||
        op.matchConditions.every((condition) => matchesCondition(condition, namespace))
      ) {
        const listed = op.maxDepth === undefined ? namespace : namespace.slice(0, op.maxDepth);
        seen.set(JSON.stringify(listed), listed);
        if (listed.length === op.maxDepth) skipPast = listed.map(part).join('') + PAST_EVERY_PART;
      }
      // Never backwards, even over an item whose stored namespace does not match its id.
      if (skipPast <= doc.id) skipPast = doc.id;
      after = skipPast;
    }
    const sorted = [...seen.values()].sort((a, b) => a.join(':').localeCompare(b.join(':')));
    const offset = op.offset ?? 0;
    return sorted.slice(offset, offset + (op.limit ?? sorted.length));
  }

  // Restarts the clock of items read: only their expiry is written where the driver can (see touchExpiry).
  async #refresh(docs: StoredDocument<ItemDoc>[]): Promise<void> {
    if (!this.#refreshOnRead) return;
    await Promise.all(
      docs
        .filter((doc) => doc.value.ttlMs !== undefined)
        .map((doc) => touchExpiry(this.documents, doc, doc.value.ttlMs!)),
    );
  }
}

function itemId(namespace: string[], key: string): string {
  return namespace.map(part).join('') + KEY_MARK + part(key);
}

function checkNamespace(namespace: string[]): void {
  if (!Array.isArray(namespace) || namespace.length === 0)
    throw new InvalidNamespaceError('Namespace cannot be empty.');
  for (const label of namespace) {
    if (typeof label !== 'string' || label === '' || label.includes('.')) {
      throw new InvalidNamespaceError(
        `Invalid namespace label '${String(label)}': labels are non-empty strings without '.'`,
      );
    }
    checkIdentifier('namespace label', label);
  }
  if (namespace[0] === 'langgraph')
    throw new InvalidNamespaceError('Root label for namespace cannot be "langgraph".');
}

function toItem(doc: StoredDocument<ItemDoc>): Item {
  return {
    namespace: doc.value.namespace,
    key: doc.value.key,
    value: doc.value.value,
    createdAt: new Date(doc.createdAt),
    updatedAt: new Date(doc.updatedAt),
  };
}

// The official stores' filter semantics: a plain value is strict equality; an object of operators
// applies each of them (numbers compared as numbers).
function matches(actual: unknown, want: unknown): boolean {
  if (
    typeof want !== 'object' ||
    want === null ||
    !Object.keys(want).every((key) => FILTER_OPERATORS.has(key))
  ) {
    return actual === want;
  }
  return Object.entries(want).every(([operator, value]) => {
    switch (operator) {
      case '$eq':
        return actual === value;
      case '$ne':
        return actual !== value;
      case '$gt':
        return Number(actual) > Number(value);
      case '$gte':
        return Number(actual) >= Number(value);
      case '$lt':
        return Number(actual) < Number(value);
      case '$lte':
        return Number(actual) <= Number(value);
      case '$in':
        return Array.isArray(value) && value.includes(actual);
      default:
        return !Array.isArray(value) || !value.includes(actual); // $nin
    }
  });
}

function matchesCondition(condition: MatchCondition, namespace: string[]): boolean {
  const { matchType, path } = condition;
  if (path.length > namespace.length) return false;
  const offset = matchType === 'prefix' ? 0 : namespace.length - path.length;
  return path.every((label, index) => label === '*' || namespace[offset + index] === label);
}
