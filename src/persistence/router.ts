/**
 * `PersistenceRouter`: one `DocumentStore` in front of several named backends (seed 004, section 5.2
 * `persistence:` config). Each key `namespace:id` goes to the backend of the first rule whose pattern
 * matches it (else the default backend) and is written with that rule's TTL unless the put gives its own.
 * The router holds no data: it is a pure function from key to backend, so any number of processes with
 * the same rules agree on where every document lives.
 */
import {
  type BatchOperation,
  type BatchResult,
  type ChangeListener,
  checkDocumentKey,
  checkNamespace,
  checkNamespaceList,
  checkWatchNamespace,
  type DeleteOptions,
  type DocumentStore,
  type ListOptions,
  type ListPage,
  type NamespaceListOptions,
  type NamespacePage,
  type PutOptions,
  type StoredDocument,
  type Subscription,
  touchExpiry,
  type WatchOptions,
} from '../drivers/index.ts';
import { ClosedError, InvalidInputError } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../shared/cursor.ts';
import { type CompiledRule, compileRules, failInObject, type PersistenceRule } from './rules.ts';

/** Options of `PersistenceRouter`. */
export interface PersistenceRouterOptions {
  /** Open stores by backend name. */
  backends: Record<string, DocumentStore>;
  /** Backend of keys no rule matches. */
  defaultBackend: string;
  /** Ordered rules; the first whose pattern matches a key decides. */
  rules?: PersistenceRule[];
  /** Close the backends when the router closes (default true). */
  closeBackends?: boolean;
}

/** Where a key goes. */
export interface Route {
  /** Backend name. */
  readonly backend: string;
  /** The backend's store. */
  readonly store: DocumentStore;
  /** TTL the rule gives documents, ms. */
  readonly ttlMs: number | undefined;
  /** Pattern of the deciding rule; undefined for the default backend. */
  readonly pattern: string | undefined;
}

// The routing plan of each namespace is remembered; bounded so that many namespaces never grow it
// without limit (it is simply cleared when full).
const MAX_CACHED_NAMESPACES = 1024;

/**
 * How keys of one namespace are routed: the rules matching the namespace that look at ids, in order, each
 * tried on the id, then the route of the first rule that takes every id (or the default backend). A
 * namespace no id rule matches has no checks: its route is one Map lookup.
 */
interface NamespacePlan {
  readonly checks: readonly { readonly id: (id: string) => boolean; readonly route: Route }[];
  readonly fallback: Route;
}

/** Routes every document call to the backend its key's rule names. */
export class PersistenceRouter implements DocumentStore {
  /** Driver name. */
  readonly name = 'router';
  readonly #backends: ReadonlyMap<string, DocumentStore>;
  readonly #rules: readonly (CompiledRule & { route: Route })[];
  readonly #default: Route;
  readonly #byNamespace = new Map<string, NamespacePlan>();
  // The last namespace routed and its plan: calls come in runs on one namespace, and this skips the Map.
  #lastNamespace: string | undefined;
  #lastPlan: NamespacePlan | undefined;
  readonly #closeBackends: boolean;
  #closed = false;

  constructor(options: PersistenceRouterOptions) {
    if (options === null || typeof options !== 'object' || typeof options.backends !== 'object') {
      throw new InvalidInputError('PersistenceRouter needs { backends, defaultBackend, rules? }');
    }
    this.#backends = new Map(Object.entries(options.backends));
    const names = [...this.#backends.keys()];
    const compiled = compileRules(options.defaultBackend, options.rules, names, failInObject);
    const routeOf = (backend: string, ttlMs: number | undefined, pattern: string | undefined): Route => ({
      backend,
      store: this.#backends.get(backend)!,
      ttlMs,
      pattern,
    });
    this.#rules = compiled.map((rule) => ({
      ...rule,
      route: routeOf(rule.backend, rule.ttlMs, rule.pattern.source),
    }));
    this.#default = routeOf(options.defaultBackend, undefined, undefined);
    this.#closeBackends = options.closeBackends ?? true;
  }

  /** Backend names, in declaration order. */
  get backendNames(): string[] {
    return [...this.#backends.keys()];
  }

  /** The store of a backend; an undeclared name is `INVALID_INPUT`. */
  backend(name: string): DocumentStore {
    const store = this.#backends.get(name);
    if (!store) throw new InvalidInputError(`no backend '${name}'`, { backend: name });
    return store;
  }

  /** Where a document goes: the first matching rule's backend and TTL, else the default backend. */
  route(namespace: string, id: string): Route {
    let plan = namespace === this.#lastNamespace ? this.#lastPlan! : this.#byNamespace.get(namespace);
    if (plan === undefined) plan = this.#plan(namespace);
    this.#lastNamespace = namespace;
    this.#lastPlan = plan;
    const checks = plan.checks;
    for (let i = 0; i < checks.length; i++) if (checks[i]!.id(id)) return checks[i]!.route;
    return plan.fallback;
  }

  // Matches the rules' namespace parts once per namespace (see NamespacePlan).
  #plan(namespace: string): NamespacePlan {
    const checks: { id: (id: string) => boolean; route: Route }[] = [];
    let fallback = this.#default;
    for (const rule of this.#rules) {
      if (!rule.pattern.namespace.test(namespace)) continue;
      if (rule.pattern.id === undefined) {
        fallback = rule.route;
        break;
      }
      checks.push({ id: rule.pattern.id, route: rule.route });
    }
    const plan = { checks, fallback };
    if (this.#byNamespace.size >= MAX_CACHED_NAMESPACES) this.#byNamespace.clear();
    this.#byNamespace.set(namespace, plan);
    return plan;
  }

  /** The backends that may hold documents of a namespace, in rule order. */
  routesOfNamespace(namespace: string): Route[] {
    const plan = this.#byNamespace.get(namespace) ?? this.#plan(namespace);
    const routes: Route[] = [];
    for (const route of [...plan.checks.map((check) => check.route), plan.fallback]) {
      if (!routes.some((r) => r.store === route.store)) routes.push(route);
    }
    return routes;
  }

  // get, put and delete are the hot path: no async wrapper of their own and no second validation (the
  // backend validates the key; an invalid one routes somewhere harmless first and is refused there).
  get<V = unknown>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
    if (this.#closed) return this.#closedError();
    return this.route(namespace, id).store.get<V>(namespace, id);
  }

  put<V = unknown>(
    namespace: string,
    id: string,
    value: V,
    options?: PutOptions,
  ): Promise<StoredDocument<V>> {
    if (this.#closed) return this.#closedError();
    const route = this.route(namespace, id);
    return route.store.put(namespace, id, value, withTtl(options, route));
  }

  delete(namespace: string, id: string, options?: DeleteOptions): Promise<boolean> {
    if (this.#closed) return this.#closedError();
    return this.route(namespace, id).store.delete(namespace, id, options);
  }

  /**
   * Restarts a live document's time to live in the backend its rules pick, without rewriting it where the
   * backend can (see `DocumentStore.touch`); on one that cannot, the document is rewritten with its
   * revision checked. False when it is missing or expired.
   */
  async touch(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    this.#open();
    const { store } = this.route(namespace, id);
    if (store.touch !== undefined) return store.touch(namespace, id, ttlMs);
    const doc = await store.get(namespace, id);
    if (doc === undefined) return false;
    await touchExpiry(store, doc, ttlMs);
    return true;
  }

  /**
   * Namespaces holding documents in any backend. Each backend is read from the same cursor and the pages
   * are merged; a page never goes past the smallest last name of a backend with more to read (a name of
   * that backend beyond it could sort before the others').
   */
  async listNamespaces(options?: NamespaceListOptions): Promise<NamespacePage> {
    this.#open();
    const { limit } = checkNamespaceList(options);
    const stores = [...new Set(this.#backends.values())];
    if (stores.length === 1) return stores[0]!.listNamespaces(options);
    const pages = await Promise.all(stores.map((store) => store.listNamespaces(options)));
    let bound: string | undefined;
    for (const page of pages) {
      const last = page.namespaces.at(-1);
      if (page.cursor !== undefined && last !== undefined && (bound === undefined || last < bound))
        bound = last;
    }
    const union = [...new Set(pages.flatMap((page) => page.namespaces))]
      .filter((name) => bound === undefined || name <= bound)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const namespaces = union.slice(0, limit);
    const last = namespaces.at(-1);
    return (bound !== undefined || union.length > limit) && last !== undefined
      ? { namespaces, cursor: encodeCursor(last) }
      : { namespaces };
  }

  /**
   * Lists a namespace. When rules split it over several backends, each is read from the same cursor and
   * the pages are merged in id order, keeping only documents the rules route to the backend holding them.
   * A page never goes past the point where a backend with more to read stopped (or its documents in
   * between would be skipped), and a round whose documents were all filtered out reads on from there,
   * so a page is empty only when every backend is exhausted.
   */
  async list<V = unknown>(namespace: string, options?: ListOptions): Promise<ListPage<V>> {
    this.#open();
    checkNamespace(namespace);
    const routes = this.routesOfNamespace(namespace);
    if (routes.length === 1) return routes[0]!.store.list<V>(namespace, options);
    const limit = options?.limit ?? 100;
    let cursor = options?.cursor;
    for (;;) {
      const asked = { ...options, ...(cursor !== undefined && { cursor }) };
      const pages = await Promise.all(routes.map((route) => route.store.list<V>(namespace, asked)));
      // The furthest id every backend with more has read up to: nothing is known beyond it.
      let bound: string | undefined;
      for (const page of pages) {
        if (page.cursor === undefined) continue;
        const reached = decodeCursor(page.cursor, namespace)!;
        if (bound === undefined || reached < bound) bound = reached;
      }
      const merged = pages
        .flatMap((page, i) =>
          page.items.filter(
            (doc) =>
              (bound === undefined || doc.id <= bound) &&
              this.route(namespace, doc.id).store === routes[i]!.store,
          ),
        )
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const items = merged.slice(0, limit);
      if (merged.length > limit) return { items, cursor: encodeCursor(items[items.length - 1]!.id) };
      if (bound === undefined) return { items };
      // Everything up to `bound` is in `items`: the next page starts after it.
      const next = encodeCursor(bound);
      // A backend that did not move past the cursor would make this loop forever: hand the page back.
      if (items.length > 0 || next === cursor) return { items, cursor: next };
      cursor = next;
    }
  }

  /**
   * Applies a batch on its backend, atomically. A batch whose documents live on different backends is
   * refused: no two backends share a transaction, so it could not be all-or-nothing.
   */
  async batch(operations: BatchOperation[]): Promise<BatchResult> {
    this.#open();
    if (!Array.isArray(operations)) throw new InvalidInputError('batch expects an array of operations');
    let target: Route | undefined;
    const routed = operations.map((op, index) => {
      checkDocumentKey(op?.namespace, op?.id);
      const route = this.route(op.namespace, op.id);
      if (target && target.store !== route.store) {
        throw new InvalidInputError(
          `batch operation ${index} (${op.namespace}/${op.id}) goes to backend '${route.backend}' and an earlier one to '${target.backend}': a batch is atomic only within one backend`,
          { index, namespace: op.namespace, id: op.id, backends: [target.backend, route.backend] },
        );
      }
      target = route;
      return op.type === 'put' ? { ...op, options: withTtl(op.options, route) } : op;
    });
    if (!target) return { results: [] };
    return target.store.batch(routed as BatchOperation[]);
  }

  /** Watches every backend that may hold the namespace (every backend for `*`). */
  async watch(namespace: string, listener: ChangeListener, options?: WatchOptions): Promise<Subscription> {
    this.#open();
    checkWatchNamespace(namespace);
    const stores =
      namespace === '*'
        ? [...new Set(this.#backends.values())]
        : this.routesOfNamespace(namespace).map((r) => r.store);
    const subscriptions: Subscription[] = [];
    try {
      for (const store of stores) {
        subscriptions.push(
          await store.watch(
            namespace,
            (event) => {
              // A document the rules send elsewhere is invisible through the router, and so are its events.
              if (this.route(event.namespace, event.id).store === store) listener(event);
            },
            options,
          ),
        );
      }
    } catch (error) {
      await Promise.all(subscriptions.map((s) => s.close()));
      throw error;
    }
    return { close: async () => void (await Promise.all(subscriptions.map((s) => s.close()))) };
  }

  /** Sweeps every backend; returns the total. */
  async sweepExpired(): Promise<number> {
    this.#open();
    const counts = await Promise.all([...new Set(this.#backends.values())].map((s) => s.sweepExpired()));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Closes the router and, unless `closeBackends: false`, every backend. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closeBackends) await Promise.all([...new Set(this.#backends.values())].map((s) => s.close()));
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('the persistence router is closed');
  }

  #closedError(): Promise<never> {
    return Promise.reject(new ClosedError('the persistence router is closed'));
  }
}

function withTtl(options: PutOptions | undefined, route: Route): PutOptions | undefined {
  if (route.ttlMs === undefined || options?.ttlMs !== undefined) return options;
  return { ...options, ttlMs: route.ttlMs };
}
