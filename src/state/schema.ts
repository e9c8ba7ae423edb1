import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidInputError } from '../errors.ts';

/** One validation problem, flattened for error details: a dotted path and a message. */
export interface SchemaIssue {
  /** Where in the value, such as `items.3.name`; empty for the value itself. */
  path: string;
  /** What the schema said. */
  message: string;
}

/** Outcome of a synchronous Standard Schema check. */
export type SchemaCheck<V> = { ok: true; value: V } | { ok: false; issues: SchemaIssue[] };

function flattenPath(path: StandardSchemaV1.Issue['path']): string {
  if (!path) return '';
  return path.map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
}

/**
 * Runs a Standard Schema validator synchronously. State commits are synchronous (a commit must be one
 * indivisible step, and awaiting inside it would let another commit interleave), so a schema whose
 * `validate` returns a Promise is refused with `INVALID_INPUT`. `defineStateKey` calls this on the
 * initial value, so an async schema is refused when the key is defined, not on the first commit.
 */
export function checkSchema<V>(
  schema: StandardSchemaV1<unknown, V>,
  value: unknown,
  key: string,
): SchemaCheck<V> {
  return validateSync(
    schema,
    value,
    () =>
      new InvalidInputError(
        `the schema of state key '${key}' validates asynchronously; state keys need a synchronous schema (remove async refinements or transforms)`,
        { key, vendor: schema['~standard'].vendor },
      ),
  );
}

/** Runs a Standard Schema validator; a validator that answers with a Promise throws `asyncRefusal()`. */
export function validateSync<V>(
  schema: StandardSchemaV1<unknown, V>,
  value: unknown,
  asyncRefusal: () => Error,
): SchemaCheck<V> {
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) {
    // Nobody will await it: keep a rejection from surfacing as an unhandled one.
    result.catch(() => {});
    throw asyncRefusal();
  }
  if (result.issues) {
    return {
      ok: false,
      issues: result.issues.map((issue) => ({ path: flattenPath(issue.path), message: issue.message })),
    };
  }
  return { ok: true, value: result.value };
}

/** Formats issues for an error message: `items.3.name: Required; ...`. */
export function describeIssues(issues: readonly SchemaIssue[]): string {
  return issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ');
}
