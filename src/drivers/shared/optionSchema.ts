/**
 * The options a driver accepts, declared once per driver as a schema (option name -> kind). The driver
 * refuses any option not in its schema (see `payloadSettings`), and the persistence config derives the
 * options each backend type accepts from the same schema, so a driver option is usable from a config file
 * the moment the driver has it, and an option no driver has is refused in both places.
 */
import { InvalidInputError } from '../../errors.ts';

/**
 * What an option's value is: a non-empty `string`, a `boolean`, a `wholeNumber` (>= 0), a
 * `positiveWholeNumber` (>= 1), one of a list of strings, or `code`: only code can give it (a function,
 * a client, an open connection, key material), so a config file cannot set it.
 */
export type OptionKind =
  | 'string'
  | 'boolean'
  | 'wholeNumber'
  | 'positiveWholeNumber'
  | readonly string[]
  | 'code';

/** A driver's options by name; `satisfies OptionSchemaOf<SomeOptions>` keeps it in step with the type. */
export type OptionSchema = Readonly<Record<string, OptionKind>>;

/** A schema listing exactly the keys of `O` (no option missing, none extra). */
export type OptionSchemaOf<O> = { readonly [K in keyof Required<O>]: OptionKind };

/** Why `value` is not of `kind` ("must be a whole number, got -1"), or undefined when it is. */
export function optionProblem(value: unknown, kind: OptionKind): string | undefined {
  // Given by code (a pool, a client, a function): its type is TypeScript's to check, and it may not
  // even be printable (a pool holds circular references).
  if (kind === 'code') return undefined;
  const got = () => {
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value); // circular
    }
  };
  if (Array.isArray(kind)) {
    return kind.includes(value as string)
      ? undefined
      : `must be ${kind.map((k) => `'${k}'`).join(' or ')}, got ${got()}`;
  }
  switch (kind) {
    case 'string':
      return typeof value === 'string' && value !== ''
        ? undefined
        : `must be a non-empty string, got ${got()}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${got()}`;
    case 'wholeNumber':
      return Number.isSafeInteger(value) && (value as number) >= 0
        ? undefined
        : `must be a whole number, got ${got()}`;
    default:
      return Number.isSafeInteger(value) && (value as number) >= 1
        ? undefined
        : `must be a whole number of at least 1, got ${got()}`;
  }
}

/**
 * Refuses any option of `options` that `schema` does not name, and any option of `checked` (a part of
 * the schema) whose value is not of its kind: `INVALID_INPUT` naming the driver and the option.
 */
export function checkDriverOptions(
  options: object,
  driver: string,
  schema: OptionSchema,
  checked: OptionSchema = {},
): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const kind = schema[key];
    if (kind === undefined) {
      throw new InvalidInputError(
        `the ${driver} driver has no option '${key}'; it accepts ${Object.keys(schema).join(', ')}`,
        { driver, option: key },
      );
    }
    const problem = key in checked ? optionProblem(value, kind) : undefined;
    if (problem !== undefined) {
      throw new InvalidInputError(`${key} ${problem}`, { driver, option: key });
    }
  }
}
