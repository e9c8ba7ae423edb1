/** Checks a value against the validator and schema a registered state attribute was given. */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { errorMessage, InvalidInputError } from '../errors.ts';
import { validateSync } from '../state/index.ts';

/** Returns `true` to accept a value; `false` or a reason (string) to refuse it. */
export type StateValidator<T> = (value: T) => boolean | string;

/** How a state attribute is stored, restored and checked. */
export interface StateAttributeOptions<T = unknown> {
  /** Turns the live value into data the codec can store (default: the value itself). */
  toJSON?: (value: T) => unknown;
  /** Rebuilds the live value from what `toJSON` returned (default: the data itself). */
  fromJSON?: (data: unknown) => T;
  /** Refuses bad values on load and on assignment. */
  validate?: StateValidator<T>;
  /** A Standard Schema (zod, valibot, arktype...) the value must satisfy; synchronous schemas only. */
  schema?: StandardSchemaV1;
}

/** Throws `INVALID_INPUT` naming `path` when `value` fails the attribute's validator or schema. */
export function checkAttributeValue(options: StateAttributeOptions, value: unknown, path: string): void {
  if (options.validate) {
    let verdict: boolean | string;
    try {
      verdict = options.validate(value);
    } catch (error) {
      throw refused(path, `its validator threw: ${errorMessage(error)}`, error);
    }
    if (verdict !== true)
      throw refused(path, typeof verdict === 'string' ? verdict : 'its validator said no');
  }
  if (options.schema) {
    const check = validateSync(
      options.schema,
      value,
      () =>
        new InvalidInputError(`the schema of ${path} is asynchronous; state attributes need a sync schema`, {
          path,
        }),
    );
    if (!check.ok) throw refused(path, check.issues.map((issue) => issue.message).join('; '));
  }
}

function refused(path: string, reason: string, cause?: unknown): InvalidInputError {
  return new InvalidInputError(
    `value of ${path} is refused: ${reason}`,
    { path, reason },
    cause === undefined ? undefined : { cause },
  );
}
