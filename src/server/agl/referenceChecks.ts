/**
 * The request checks the Agent Lightning reference server makes after its schema validation, with its status
 * (400) and its `detail` texts word for word, so clients that show or match them see what they expect:
 * explicit nulls for fields that cannot be cleared, and paging and sorting parameters. The errors keep
 * agentstate's code (INVALID_INPUT) and field beside the reference's text.
 */
import { InvalidInputError } from '../../errors.ts';
import {
  ATTEMPT_COLUMNS,
  RESOURCES_COLUMNS,
  ROLLOUT_COLUMNS,
  SPAN_COLUMNS,
  WORKER_COLUMNS,
} from '../../rollouts/index.ts';
import { AGL_REFERENCE } from './reference.ts';
import type { Wire } from './wire.ts';

/** A request the reference answers with 400 and a `detail` text (its `HTTPException(400, detail)`). */
export class ReferenceBadRequestError extends InvalidInputError {}

/** The item type of a paged listing, named as the reference's schema components are. */
export type ListedType = 'Rollout' | 'Attempt' | 'ResourcesUpdate' | 'Worker' | 'Span-Output';

// What agentstate sorts each listing by, as the wire spells it (the SQL column names are the wire names).
const SORTABLE: Readonly<Record<ListedType, ReadonlySet<string>>> = {
  Rollout: new Set(Object.values(ROLLOUT_COLUMNS)),
  Attempt: new Set(Object.values(ATTEMPT_COLUMNS)),
  ResourcesUpdate: new Set(Object.values(RESOURCES_COLUMNS)),
  Worker: new Set(Object.values(WORKER_COLUMNS)),
  'Span-Output': new Set(Object.values(SPAN_COLUMNS)),
};

/** The reference's fields of a listed type, in its order (what its `allowed fields are:` lists). */
function referenceFields(type: ListedType): string[] {
  const schema = AGL_REFERENCE.components.schemas[type] as { properties: Record<string, unknown> };
  return Object.keys(schema.properties);
}

const REFERENCE_FIELDS: Readonly<Record<ListedType, readonly string[]>> = {
  Rollout: referenceFields('Rollout'),
  Attempt: referenceFields('Attempt'),
  ResourcesUpdate: referenceFields('ResourcesUpdate'),
  Worker: referenceFields('Worker'),
  'Span-Output': referenceFields('Span-Output'),
};

/**
 * Refuses `null` for the listed body fields, in the order given (the reference reports the first): for these
 * fields omitted means "unchanged" and null is not a value they can take.
 */
export function refuseNullFields(body: Wire, fields: readonly string[]): void {
  for (const field of fields) {
    if (Object.hasOwn(body, field) && body[field] === null) {
      throw new ReferenceBadRequestError(`${field} is invalid; it cannot be a null value.`, {
        field: `body.${field}`,
      });
    }
  }
}

/**
 * Checks the paging and sorting parameters of a listing of `type` as the reference does, in its order:
 * sort_by names a field of the type, sort_order and filter_logic are known, limit is > 0 or -1 (all), offset
 * is >= 0. A field the reference sorts by but agentstate's indexes do not (a JSON field such as `input`) is
 * refused with the reference's "Failed to sort" wording.
 */
export function checkPaging(w: Wire, type: ListedType, location: 'body' | 'query'): void {
  const fail = (name: string, detail: string, value: unknown): never => {
    throw new ReferenceBadRequestError(detail, { field: `${location}.${name}`, value });
  };
  const sortBy = w.sort_by;
  if (typeof sortBy === 'string') {
    const fields = REFERENCE_FIELDS[type];
    if (!fields.includes(sortBy))
      fail('sort_by', `Invalid sort_by: ${sortBy}, allowed fields are: ${fields.join(', ')}`, sortBy);
    if (!SORTABLE[type].has(sortBy)) {
      const sortable = [...SORTABLE[type]].join(', ');
      fail('sort_by', `Failed to sort items by ${sortBy}: agentstate sorts by ${sortable}`, sortBy);
    }
  }
  if (w.sort_order !== undefined && w.sort_order !== 'asc' && w.sort_order !== 'desc')
    fail(
      'sort_order',
      `Invalid sort_order: ${String(w.sort_order)}, allowed values are: asc, desc`,
      w.sort_order,
    );
  const limit = w.limit;
  if (typeof limit === 'number' && (limit === 0 || (limit < 0 && limit !== -1)))
    fail('limit', 'Limit must be greater than 0 or -1 for no limit', limit);
  if (typeof w.offset === 'number' && !(w.offset >= 0))
    fail('offset', 'Offset must be greater than or equal to 0', w.offset);
  if (w.filter_logic !== undefined && w.filter_logic !== 'and' && w.filter_logic !== 'or')
    fail(
      'filter_logic',
      `Invalid filter_logic: ${String(w.filter_logic)}, allowed values are: and, or`,
      w.filter_logic,
    );
}
