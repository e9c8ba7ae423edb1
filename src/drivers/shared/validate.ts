import { InvalidInputError } from '../../errors.ts';
import { decodeCursor } from '../../shared/cursor.ts';
import { storableTextProblem } from '../../shared/storableText.ts';
import { MAX_TTL_MS } from '../kernel/ttl.ts';
import type {
  BatchOperation,
  DeleteOptions,
  ListOptions,
  NamespaceListOptions,
  PutOptions,
} from '../types.ts';

/** Longest accepted namespace, in UTF-16 code units. */
export const MAX_NAMESPACE_LENGTH = 128;
/** Longest accepted document id, in UTF-16 code units. */
export const MAX_ID_LENGTH = 1024;
/** Default and largest page size of `list`. */
export const DEFAULT_LIST_LIMIT = 100;
/** Largest page size of `list`. */
export const MAX_LIST_LIMIT = 1000;

// Namespaces name tables, channels and directories in some drivers, so they are kept to a safe alphabet.
const NAMESPACE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

/** Throws `INVALID_INPUT` unless `namespace` is a short name of letters, digits and `_ . : -`. */
export function checkNamespace(namespace: unknown): asserts namespace is string {
  if (
    typeof namespace !== 'string' ||
    namespace.length === 0 ||
    namespace.length > MAX_NAMESPACE_LENGTH ||
    !NAMESPACE.test(namespace)
  ) {
    throw new InvalidInputError(
      `invalid namespace ${JSON.stringify(namespace)}: use 1-${MAX_NAMESPACE_LENGTH} letters, digits, '_', '.', ':' or '-', not starting with a symbol`,
      { field: 'namespace', namespace },
    );
  }
}

/**
 * Throws `INVALID_INPUT` unless `id` is a non-empty string of at most MAX_ID_LENGTH code units, without NUL
 * and without lone surrogates (see storableTextProblem).
 */
export function checkId(id: unknown, namespace?: string): asserts id is string {
  const problem =
    typeof id !== 'string' || id.length === 0
      ? 'is not a non-empty string'
      : storableTextProblem(id, MAX_ID_LENGTH);
  if (problem !== undefined) {
    const shown = typeof id === 'string' && id.length > 64 ? `${id.slice(0, 64)}...` : id;
    throw new InvalidInputError(
      `invalid document id ${JSON.stringify(shown)}: it ${problem}; use a non-empty string of at most ${MAX_ID_LENGTH} characters without NUL`,
      { field: 'id', namespace, id },
    );
  }
}

/** Throws `INVALID_INPUT` unless both name a document: `checkNamespace`, then `checkId`. */
export function checkDocumentKey(namespace: unknown, id: unknown): asserts id is string {
  checkNamespace(namespace);
  checkId(id, namespace);
}

/** Throws `INVALID_INPUT` unless `namespace` is a namespace or `*` (every namespace), as `watch` takes. */
export function checkWatchNamespace(namespace: unknown): void {
  if (namespace !== '*') checkNamespace(namespace);
}

/** Validates a revision given as `expectedRevision`. */
export function checkExpectedRevision(revision: unknown, namespace: string, id: string): void {
  if (revision === undefined) return;
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw new InvalidInputError(`expectedRevision must be a non-negative integer, got ${String(revision)}`, {
      namespace,
      id,
      expectedRevision: revision,
    });
  }
}

/** Validates put options. */
export function checkPutOptions(options: PutOptions | undefined, namespace: string, id: string): void {
  if (options === undefined) return;
  checkExpectedRevision(options.expectedRevision, namespace, id);
  if (options.ttlMs !== undefined) checkTtlMs(options.ttlMs, { namespace, id });
  if (
    options.metadata !== undefined &&
    (options.metadata === null || typeof options.metadata !== 'object' || Array.isArray(options.metadata))
  ) {
    throw new InvalidInputError('metadata must be a plain object', { namespace, id });
  }
}

/** Validates delete options. */
export function checkDeleteOptions(options: DeleteOptions | undefined, namespace: string, id: string): void {
  if (options !== undefined) checkExpectedRevision(options.expectedRevision, namespace, id);
}

/** Throws `INVALID_INPUT` unless `ttlMs` is a number of ms in (0, MAX_TTL_MS] (see kernel/ttl.ts). */
export function checkTtlMs(ttlMs: unknown, details: Record<string, unknown> = {}): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !(ttlMs > 0 && ttlMs <= MAX_TTL_MS)) {
    throw new InvalidInputError(
      `ttlMs must be a number of milliseconds greater than 0 and at most ${MAX_TTL_MS}, got ${String(ttlMs)}`,
      { ...details, ttlMs },
    );
  }
}

/** A validated `list` call: page size, the id after which the page starts (from the cursor), and the prefix. */
export interface ListQuery {
  limit: number;
  after: string | undefined;
  prefix: string;
}

/** Validates the namespace and options of `list` and decodes its cursor. */
export function checkList(namespace: string, options: ListOptions | undefined): ListQuery {
  checkNamespace(namespace);
  const limit = options?.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new InvalidInputError(
      `list limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${String(limit)}`,
      { namespace, limit },
    );
  }
  if (options?.prefix !== undefined && typeof options.prefix !== 'string') {
    throw new InvalidInputError('list prefix must be a string', { namespace });
  }
  return { limit, after: decodeCursor(options?.cursor, namespace), prefix: options?.prefix ?? '' };
}

/** A validated `listNamespaces` call: page size and the namespace after which the page starts. */
export interface NamespaceQuery {
  limit: number;
  after: string | undefined;
}

/** Validates the options of `listNamespaces` and decodes its cursor. */
export function checkNamespaceList(options: NamespaceListOptions | undefined): NamespaceQuery {
  const limit = options?.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new InvalidInputError(
      `listNamespaces limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${String(limit)}`,
      { limit },
    );
  }
  return { limit, after: decodeCursor(options?.cursor, '') };
}

/** Validates every operation of a batch before anything is applied. */
export function checkBatch(operations: unknown): asserts operations is BatchOperation[] {
  if (!Array.isArray(operations)) throw new InvalidInputError('batch expects an array of operations');
  operations.forEach((op: BatchOperation, index) => {
    if (op === null || typeof op !== 'object' || (op.type !== 'put' && op.type !== 'delete')) {
      throw new InvalidInputError(`batch operation ${index} must have type 'put' or 'delete'`, { index });
    }
    checkDocumentKey(op.namespace, op.id);
    if (op.type === 'put') checkPutOptions(op.options, op.namespace, op.id);
    else checkDeleteOptions(op.options, op.namespace, op.id);
  });
}
