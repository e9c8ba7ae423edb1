import { join } from 'node:path';
import type { ExpiryHeap } from '../../shared/expiryHeap.ts';
import { namespaceDirName } from './fileNames.ts';

/** What the index knows about a document without reading its file. */
export interface IndexEntry {
  revision: number;
  createdAt: number;
  expiresAt?: number;
}

/** The index of one namespace: its directory, its documents, and their ids in order. */
export interface NamespaceIndex {
  path: string;
  entries: Map<string, IndexEntry>;
  // Ids in JavaScript string order, rebuilt lazily after an id is added or removed.
  sorted: string[] | undefined;
  dirReady: boolean;
}

/**
 * The in-memory index of a store directory: the revision, creation time and expiry of every document,
 * by namespace, loaded from the file headers at open, so reads of revisions, lists and sweeps need no
 * file read. Entries with an expiry also go onto the directory's expiry heap.
 */
export class DocumentIndex {
  readonly #dir: string;
  readonly #expiries: ExpiryHeap;
  readonly #namespaces = new Map<string, NamespaceIndex>();

  constructor(dir: string, expiries: ExpiryHeap) {
    this.#dir = dir;
    this.#expiries = expiries;
  }

  /** The indexed entry of a document if it exists and has not expired at `now`. */
  live(namespace: string, id: string, now: number): IndexEntry | undefined {
    const entry = this.#namespaces.get(namespace)?.entries.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now) return undefined;
    return entry;
  }

  /** The indexed entry, expired or not. */
  entry(namespace: string, id: string): IndexEntry | undefined {
    return this.#namespaces.get(namespace)?.entries.get(id);
  }

  /** Records a written document. */
  set(namespace: string, id: string, entry: IndexEntry): void {
    const index = this.namespace(namespace);
    if (!index.entries.has(id)) index.sorted = undefined;
    index.entries.set(id, entry);
    if (entry.expiresAt !== undefined) this.#expiries.push({ at: entry.expiresAt, namespace, id });
  }

  /** Forgets a deleted document. */
  remove(namespace: string, id: string): void {
    const index = this.#namespaces.get(namespace);
    if (index?.entries.delete(id)) index.sorted = undefined;
  }

  /** Namespaces holding at least one document (the index is loaded at open, so nothing is read). */
  namespacesWithDocuments(): string[] {
    return [...this.#namespaces].filter(([, index]) => index.entries.size > 0).map(([name]) => name);
  }

  /** Ids of a namespace in JavaScript string order. */
  sortedIds(namespace: string): readonly string[] {
    const index = this.#namespaces.get(namespace);
    if (!index) return [];
    index.sorted ??= [...index.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return index.sorted;
  }

  /** The index of a namespace, created empty on first use. */
  namespace(namespace: string): NamespaceIndex {
    let index = this.#namespaces.get(namespace);
    if (!index) {
      index = {
        path: join(this.#dir, namespaceDirName(namespace)),
        entries: new Map(),
        sorted: undefined,
        dirReady: false,
      };
      this.#namespaces.set(namespace, index);
    }
    return index;
  }

  /** Forgets everything (the store is closing). */
  clear(): void {
    this.#namespaces.clear();
  }
}
