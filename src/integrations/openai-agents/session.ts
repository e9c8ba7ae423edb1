import type { AgentInputItem, Session } from '@openai/agents-core';
import type { BatchOperation, DocumentStore, StoredDocument } from '../../drivers/index.ts';
import {
  AgentStateError,
  CorruptStateError,
  InvalidInputError,
  RevisionConflictError,
} from '../../errors.ts';
import { part, revisionSuffix } from '../../shared/idParts.ts';
import { SerialQueue } from '../../shared/serialQueue.ts';
import { checkIdentifier } from '../identifiers.ts';

/** Options of `new AgentStateSession`. */
export interface AgentStateSessionOptions {
  /** The conversation's id (data, never a path). */
  sessionId: string;
  /** Namespace prefix (default `openai.sessions`): heads in it, item pages in `<namespace>.items`. */
  namespace?: string;
  /** Items per stored page (default 64): a turn rewrites at most one page, whatever the history length. */
  pageSize?: number;
}

interface Head {
  count: number;
}

// A write that lost a compare-and-set race reloads the head and tries again, this many times.
const ATTEMPTS = 5;

/**
 * An OpenAI Agents SDK `Session` on any agentstate `DocumentStore` (memory, SQLite, PostgreSQL).
 *
 * The history is stored append-only in pages of `pageSize` items plus one small head record holding the
 * item count: `addItems` rewrites only the last, partly filled page (and writes new ones), `getItems(limit)`
 * reads only the pages holding the last `limit` items, and `popItem` rewrites one page, so a turn of a
 * 10,000-item conversation costs what a turn of a 10-item one costs. Every write is one atomic batch
 * with compare-and-set on the head, so two processes adding to one session never lose an item: the
 * loser of a race reloads the head and appends after the winner.
 */
export class AgentStateSession implements Session {
  /** The storage. */
  readonly documents: DocumentStore;
  readonly #sessionId: string;
  readonly #heads: string;
  readonly #pages: string;
  readonly #pageSize: number;
  // Head as last seen, to skip re-reading it on the next write; compare-and-set catches a stale one.
  #known: StoredDocument<Head> | undefined;
  readonly #queue = new SerialQueue();

  /** A session over `documents`. */
  constructor(documents: DocumentStore, options: AgentStateSessionOptions) {
    this.documents = documents;
    this.#sessionId = checkIdentifier('sessionId', options.sessionId);
    const prefix = options.namespace ?? 'openai.sessions';
    this.#heads = prefix;
    this.#pages = `${prefix}.items`;
    const pageSize = options.pageSize ?? 64;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 10_000) {
      throw new InvalidInputError('pageSize must be an integer from 1 to 10000', { pageSize });
    }
    this.#pageSize = pageSize;
  }

  /** The session id. */
  async getSessionId(): Promise<string> {
    return this.#sessionId;
  }

  /** The last `limit` items (all without a limit), oldest first; reads only the pages that hold them. */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new InvalidInputError('getItems limit must be a non-negative integer', {
        limit,
        sessionId: this.#sessionId,
      });
    }
    const head = await this.#readHead();
    const count = head?.value.count ?? 0;
    const from = limit === undefined ? 0 : Math.max(0, count - limit);
    if (from >= count) return [];
    const pages = await this.#readPages(
      Math.floor(from / this.#pageSize),
      Math.floor((count - 1) / this.#pageSize),
    );
    const items = pages.flat();
    const offset = from - Math.floor(from / this.#pageSize) * this.#pageSize;
    return items.slice(offset, offset + (count - from));
  }

  /** Appends items to the history. */
  addItems(items: AgentInputItem[]): Promise<void> {
    if (!Array.isArray(items)) {
      return Promise.reject(
        new InvalidInputError('addItems takes an array of items', { sessionId: this.#sessionId }),
      );
    }
    if (items.length === 0) return Promise.resolve();
    return this.#queue.run(() =>
      this.#write(async (count) => {
        const operations: BatchOperation[] = [];
        let page = Math.floor(count / this.#pageSize);
        const used = count - page * this.#pageSize;
        let current = used > 0 ? ((await this.#readPages(page, page))[0] ?? []).slice(0, used) : [];
        for (const item of items) {
          current.push(item);
          if (current.length === this.#pageSize) {
            operations.push(this.#putPage(page, current));
            page += 1;
            current = [];
          }
        }
        if (current.length > 0) operations.push(this.#putPage(page, current));
        return { operations, count: count + items.length, result: undefined };
      }),
    );
  }

  /** Removes and returns the newest item, or undefined when the history is empty. */
  popItem(): Promise<AgentInputItem | undefined> {
    return this.#queue.run(() =>
      this.#write(async (count) => {
        if (count === 0) return { operations: [], count, result: undefined };
        const page = Math.floor((count - 1) / this.#pageSize);
        const items = ((await this.#readPages(page, page))[0] ?? []).slice(0, count - page * this.#pageSize);
        const last = items.pop();
        const operations: BatchOperation[] = [
          items.length > 0
            ? this.#putPage(page, items)
            : { type: 'delete', namespace: this.#pages, id: this.#pageId(page) },
        ];
        return { operations, count: count - 1, result: last };
      }),
    );
  }

  /**
   * Deletes the whole history. The head stays, at count 0, so its revision keeps counting: a writer that
   * still holds the head from before the clear fails its compare-and-set and appends after the clear,
   * and the pages go in the same batch as the head, so no page another writer adds later is swept.
   */
  clearSession(): Promise<void> {
    return this.#queue.run(() =>
      this.#write(async (count) => {
        const operations: BatchOperation[] = [];
        for (let page = 0; page * this.#pageSize < count; page += 1) {
          operations.push({ type: 'delete', namespace: this.#pages, id: this.#pageId(page) });
        }
        return { operations, count: 0, result: undefined };
      }),
    );
  }

  // Runs `plan` on the current item count and writes its pages and the new head in one batch, with
  // compare-and-set on the head; a lost race reloads the head and plans again.
  async #write<T>(
    plan: (count: number) => Promise<{ operations: BatchOperation[]; count: number; result: T }>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const remembered = this.#known !== undefined;
      const head = this.#known ?? (await this.#readHead());
      const revision = head?.revision ?? 0;
      let planned: Awaited<ReturnType<typeof plan>>;
      try {
        planned = await plan(head?.value.count ?? 0);
      } catch (error) {
        // A page missing under a remembered head: another writer cleared or shrank the session since;
        // read the head again (the compare-and-set would have refused this plan anyway).
        if (remembered && error instanceof CorruptStateError) {
          this.#known = undefined;
          continue;
        }
        throw error;
      }
      if (planned.count === (head?.value.count ?? 0) && planned.operations.length === 0)
        return planned.result;
      try {
        const { results } = await this.documents.batch([
          ...planned.operations,
          {
            type: 'put',
            namespace: this.#heads,
            id: this.#sessionId,
            value: { count: planned.count },
            options: { expectedRevision: revision },
          },
        ]);
        const now = Date.now();
        this.#known = {
          namespace: this.#heads,
          id: this.#sessionId,
          value: { count: planned.count },
          revision: results.at(-1)?.revision ?? revision + 1,
          createdAt: head?.createdAt ?? now,
          updatedAt: now,
        };
        return planned.result;
      } catch (error) {
        this.#known = undefined;
        if (!(error instanceof AgentStateError && error.code === 'REVISION_CONFLICT')) throw error;
        if (attempt >= ATTEMPTS) {
          throw new RevisionConflictError(
            `session '${this.#sessionId}' kept changing under this write (${ATTEMPTS} attempts); retry later`,
            { sessionId: this.#sessionId },
          );
        }
      }
    }
  }

  async #readHead(): Promise<StoredDocument<Head> | undefined> {
    const head = await this.documents.get<Head>(this.#heads, this.#sessionId);
    this.#known = head;
    return head;
  }

  async #readPages(first: number, last: number): Promise<AgentInputItem[][]> {
    const pages: Promise<StoredDocument<AgentInputItem[]> | undefined>[] = [];
    for (let page = first; page <= last; page += 1) {
      pages.push(this.documents.get<AgentInputItem[]>(this.#pages, this.#pageId(page)));
    }
    return (await Promise.all(pages)).map((doc, index) => {
      if (doc === undefined || !Array.isArray(doc.value)) {
        throw new CorruptStateError(
          `page ${first + index} of session '${this.#sessionId}' is missing or not a list`,
          {
            sessionId: this.#sessionId,
            page: first + index,
          },
        );
      }
      return doc.value;
    });
  }

  #putPage(page: number, items: AgentInputItem[]): BatchOperation {
    return { type: 'put', namespace: this.#pages, id: this.#pageId(page), value: items };
  }

  #pageId(page: number): string {
    return part(this.#sessionId) + revisionSuffix(page);
  }
}
