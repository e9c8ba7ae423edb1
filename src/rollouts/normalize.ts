/**
 * Validation and defaults for everything callers give the rollout store. Bad input is refused with an
 * `InvalidInputError` naming the field before anything is written. Shared by every backend.
 */

import { assertDepth, textMayExceedDepth } from '../codec/depth.ts';
import { InvalidInputError } from '../errors.ts';
import { storableTextProblem } from '../shared/storableText.ts';
import {
  ATTEMPT_STATUSES,
  type AttemptPatch,
  type AttemptStatus,
  type EnqueueRolloutRequest,
  type NamedResources,
  ROLLOUT_MODES,
  ROLLOUT_STATUSES,
  type RolloutConfig,
  type RolloutConfigInput,
  type RolloutMode,
  type RolloutPatch,
  type Span,
  type SpanFields,
  type SpanInput,
} from './types.ts';

const RESOURCE_TYPES = ['llm', 'proxy_llm', 'prompt_template'];

/**
 * Largest span sequence id a caller may give: PostgreSQL stores sequence ids as `integer`, and every backend
 * refuses the same values, so a span accepted by one backend is accepted by all.
 */
export const MAX_SPAN_SEQUENCE_ID = 2 ** 31 - 1;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Longest id of a rollout, attempt, span, trace, worker or resources update, and of an idempotency key, in
 * UTF-16 code units. PostgreSQL indexes spans by (rollout_id, attempt_id, span_id), and a btree entry must
 * stay under about 2,700 bytes: three ids of 256 code units are at most 2,304 UTF-8 bytes. Every backend
 * refuses the same ids, so data accepted by one can move to another.
 */
export const MAX_ROLLOUT_ID_LENGTH = 256;

/** Longest span name, in UTF-16 code units. */
export const MAX_SPAN_NAME_LENGTH = 4096;

// String.prototype.isWellFormed (native since Node 20; this project's TypeScript lib is ES2023, which does
// not declare it). Native, it checks an id in a few nanoseconds where a /\p{Cs}/u test took about 40.
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * Whether `value` passes `requireText(value, field, maxLength, allowEmpty)`: the checks alone, so a caller
 * on the hot path (every span) builds no field name unless one fails.
 */
function isStorableText(value: unknown, maxLength: number, allowEmpty: boolean): value is string {
  return (
    typeof value === 'string' &&
    (allowEmpty || value.length > 0) &&
    value.length <= maxLength &&
    !value.includes('\0') &&
    isWellFormed(value)
  );
}

/**
 * Throws unless `value` is a string a text column holds as given: at most `maxLength` code units, no NUL,
 * well-formed Unicode; empty only when `allowEmpty`.
 */
export function requireText(value: unknown, field: string, maxLength: number, allowEmpty = false): string {
  if (isStorableText(value, maxLength, allowEmpty)) return value;
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0)) {
    throw new InvalidInputError(`${field} must be a ${allowEmpty ? '' : 'non-empty '}string`, {
      field,
      value: typeof value === 'string' ? value : String(value),
    });
  }
  // SQLite and PostgreSQL store these columns as UTF-8, into which a lone surrogate half becomes U+FFFD:
  // the id read back would differ from the one written.
  const problem =
    storableTextProblem(value, maxLength) ??
    (isWellFormed(value) ? undefined : 'contains a lone UTF-16 surrogate (not valid Unicode)');
  if (problem) {
    throw new InvalidInputError(`${field} ${problem}`, {
      field,
      value: value.length > 64 ? `${value.slice(0, 64)}...` : value,
      maxLength,
    });
  }
  return value;
}

/** Throws unless `value` is an id: a non-empty string of at most MAX_ROLLOUT_ID_LENGTH, no NUL. */
export function requireId(value: unknown, field: string): string {
  return requireText(value, field, MAX_ROLLOUT_ID_LENGTH);
}

/** Throws unless `value` is one of `allowed`; the message lists them. */
export function requireOneOf<T>(value: unknown, allowed: readonly T[], field: string): T {
  if (!allowed.includes(value as T)) {
    throw new InvalidInputError(`${field} must be one of ${allowed.join(', ')}`, { field, value });
  }
  return value as T;
}

/** Throws unless every value of `values` is one of `allowed` (a status filter). */
export function requireAllOf(values: readonly unknown[], allowed: readonly unknown[], field: string): void {
  for (const value of values) {
    if (!allowed.includes(value)) {
      throw new InvalidInputError(`${field} must hold only ${allowed.join(', ')}`, { field, value });
    }
  }
}

// Not a type guard on purpose: narrowing a typed parameter to Record<string, unknown> would erase its fields.
function requireObject(value: unknown, field: string): void {
  if (!isPlainObject(value)) throw new InvalidInputError(`${field} must be an object`, { field });
}

/** An optional id (worker, resources): null when absent, otherwise checked as `requireId` does. */
function optionalId(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    throw new InvalidInputError(`${field} must be a string or null`, { field, value });
  return requireId(value, field);
}

/** A plain object, or null for null/undefined; throws for anything else. */
export function optionalObject(value: unknown, field: string): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  if (!isPlainObject(value))
    throw new InvalidInputError(`${field} must be a plain object or null`, { field });
  return value;
}

function optionalSeconds(value: unknown, field: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidInputError(`${field} must be a finite number of seconds >= 0, or null`, {
      field,
      value,
    });
  }
  return value;
}

/** Checks that a value survives JSON (what every backend stores): no functions, cycles, BigInt. */
export function requireJson(value: unknown, field: string): void {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidInputError(`${field} must be JSON-serializable`, { field }, { cause: error });
  }
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new InvalidInputError(`${field} must be JSON-serializable`, { field });
  }
  // Deep enough to stringify now may still be too deep to read back everywhere (see codec/depth.ts). The
  // text just built rules out nearly every value without a second walk.
  if (text !== undefined && textMayExceedDepth(text)) assertDepth(value, field);
}

/**
 * The JSON text every backend stores a span as, `index` its place in the batch (for the error path).
 * Attributes come from callers, so a cycle, a BigInt or nesting deeper than MAX_DEPTH is the caller's
 * INVALID_INPUT, not a storage failure; every backend builds the text before its first write of the batch,
 * and a failed operation undoes its writes (the memory store only leaves a gap in issued sequence ids).
 */
export function spanJson(span: Span, index?: number): string {
  const field = index === undefined ? 'span' : `spans[${index}]`;
  let text: string;
  try {
    text = JSON.stringify(span);
  } catch (error) {
    // Nested too deep to stringify (the stack overflowed): say where.
    assertDepth(span, field);
    throw new InvalidInputError('span must be JSON-serializable', { spanId: span.spanId }, { cause: error });
  }
  // A span is stored as this one JSON value (unknown fields included): nested deeper than MAX_DEPTH, it
  // could not be read back. Checked on the text just built, so a shallow span (nearly all) costs no walk.
  if (textMayExceedDepth(text)) assertDepth(span, field);
  return text;
}

/** A rollout mode or null. */
export function normalizeMode(value: unknown, field = 'mode'): RolloutMode | null {
  if (value === undefined || value === null) return null;
  return requireOneOf(value, ROLLOUT_MODES, field);
}

/** A full RolloutConfig from caller input, with the reference's defaults (maxAttempts 1, no retry). */
export function normalizeConfig(input: RolloutConfigInput | null | undefined): RolloutConfig {
  if (input === undefined || input === null) {
    return { timeoutSeconds: null, unresponsiveSeconds: null, maxAttempts: 1, retryCondition: [] };
  }
  if (!isPlainObject(input)) throw new InvalidInputError('config must be an object', { field: 'config' });
  const maxAttempts = input.maxAttempts ?? 1;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidInputError('config.maxAttempts must be an integer >= 1', {
      field: 'config.maxAttempts',
      value: maxAttempts,
    });
  }
  const retryCondition = input.retryCondition ?? [];
  if (!Array.isArray(retryCondition)) {
    throw new InvalidInputError('config.retryCondition must be an array of attempt statuses', {
      field: 'config.retryCondition',
    });
  }
  for (const status of retryCondition) requireAttemptStatus(status, 'config.retryCondition');
  return {
    timeoutSeconds: optionalSeconds(input.timeoutSeconds, 'config.timeoutSeconds'),
    unresponsiveSeconds: optionalSeconds(input.unresponsiveSeconds, 'config.unresponsiveSeconds'),
    maxAttempts,
    retryCondition: [...new Set(retryCondition)],
  };
}

/** Throws unless `value` is an attempt status. */
export function requireAttemptStatus(value: unknown, field = 'status'): AttemptStatus {
  return requireOneOf(value, ATTEMPT_STATUSES, field);
}

/** Validated fields of a new rollout. */
export interface NormalizedRolloutRequest {
  input: unknown;
  mode: RolloutMode | null;
  resourcesId: string | null;
  config: RolloutConfig;
  metadata: Record<string, unknown>;
}

/** Validates an enqueue/start request. */
export function normalizeRolloutRequest(
  request: EnqueueRolloutRequest,
  field = 'request',
): NormalizedRolloutRequest {
  if (!isPlainObject(request)) throw new InvalidInputError(`${field} must be an object`, { field });
  if (!('input' in request))
    throw new InvalidInputError(`${field}.input is required`, { field: `${field}.input` });
  requireJson(request.input, `${field}.input`);
  const metadata = optionalObject(request.metadata, `${field}.metadata`) ?? {};
  requireJson(metadata, `${field}.metadata`);
  return {
    input: request.input === undefined ? null : request.input,
    mode: normalizeMode(request.mode, `${field}.mode`),
    resourcesId: optionalId(request.resourcesId, `${field}.resourcesId`),
    config: normalizeConfig(request.config),
    metadata,
  };
}

/**
 * Refuses an explicit null for a patch field that cannot be cleared (a rollout always has a status and a
 * config): omitted means "unchanged", so null must not be taken for it, nor silently reset to defaults.
 */
function refuseNull(patch: object, key: string): void {
  if ((patch as Record<string, unknown>)[key] === null) {
    throw new InvalidInputError(`${key} cannot be null; omit it to keep the current value`, { field: key });
  }
}

/** Validates a rollout patch (fields stay absent when not given). */
export function normalizeRolloutPatch(patch: RolloutPatch): RolloutPatch {
  requireObject(patch, 'patch');
  refuseNull(patch, 'status');
  refuseNull(patch, 'config');
  const out: RolloutPatch = {};
  if ('input' in patch) {
    requireJson(patch.input, 'input');
    out.input = patch.input === undefined ? null : patch.input;
  }
  if ('mode' in patch) out.mode = normalizeMode(patch.mode);
  if ('resourcesId' in patch) out.resourcesId = optionalId(patch.resourcesId, 'resourcesId');
  if (patch.status !== undefined) out.status = requireOneOf(patch.status, ROLLOUT_STATUSES, 'status');
  if (patch.config !== undefined) out.config = normalizeConfig(patch.config);
  if ('metadata' in patch) {
    out.metadata = optionalObject(patch.metadata, 'metadata');
    requireJson(out.metadata, 'metadata');
  }
  return out;
}

/** Validates an attempt patch. */
export function normalizeAttemptPatch(patch: AttemptPatch): AttemptPatch {
  requireObject(patch, 'patch');
  refuseNull(patch, 'status');
  const out: AttemptPatch = {};
  if (patch.status !== undefined) out.status = requireAttemptStatus(patch.status);
  if ('workerId' in patch) out.workerId = optionalId(patch.workerId, 'workerId');
  if ('lastHeartbeatTime' in patch)
    out.lastHeartbeatTime = optionalSeconds(patch.lastHeartbeatTime, 'lastHeartbeatTime');
  if ('metadata' in patch) {
    out.metadata = optionalObject(patch.metadata, 'metadata');
    requireJson(out.metadata, 'metadata');
  }
  return out;
}

/** Validates named resources: an object of `{ resourceType: 'llm' | 'proxy_llm' | 'prompt_template', ... }`. */
export function normalizeResources(resources: NamedResources): NamedResources {
  if (!isPlainObject(resources))
    throw new InvalidInputError('resources must be an object of named resources');
  for (const [name, resource] of Object.entries(resources)) {
    const field = `resources.${name}`;
    if (!isPlainObject(resource)) throw new InvalidInputError(`${field} must be an object`, { field });
    requireOneOf(resource.resourceType, RESOURCE_TYPES, `${field}.resourceType`);
  }
  requireJson(resources, 'resources');
  return resources;
}

// A text field (`key`) of span `index` checked as requireText does, unless it is the same string as in the
// span before it in the batch (`previous`, already checked: the spans of a batch nearly always share their
// rollout, attempt, trace and parent ids). Its path is built only when the check fails. Values are passed,
// not read here by key: one property read site for six keys would be a slow megamorphic lookup.
function spanText(
  value: unknown,
  previous: unknown,
  index: number,
  key: string,
  maxLength: number,
  allowEmpty: boolean,
): void {
  if (value === previous && value !== undefined) return;
  if (!isStorableText(value, maxLength, allowEmpty)) {
    requireText(value, `spans[${index}].${key}`, maxLength, allowEmpty);
  }
}

/**
 * A complete span from caller input, without its sequence id (the store assigns it when absent). Unknown
 * fields are kept. Throws on missing ids or wrongly typed modelled fields. `previous`: the span before it in
 * the batch, when that one passed (its ids are not checked twice).
 */
export function normalizeSpan(
  input: SpanInput,
  index: number,
  previous?: SpanInput,
): SpanInput & Omit<SpanFields, 'sequenceId'> {
  const field = `spans[${index}]`;
  requireObject(input, field);
  spanText(input.rolloutId, previous?.rolloutId, index, 'rolloutId', MAX_ROLLOUT_ID_LENGTH, false);
  spanText(input.attemptId, previous?.attemptId, index, 'attemptId', MAX_ROLLOUT_ID_LENGTH, false);
  spanText(input.spanId, previous?.spanId, index, 'spanId', MAX_ROLLOUT_ID_LENGTH, false);
  spanText(input.traceId, previous?.traceId, index, 'traceId', MAX_ROLLOUT_ID_LENGTH, true);
  spanText(input.name, previous?.name, index, 'name', MAX_SPAN_NAME_LENGTH, true);
  if (input.parentId !== undefined && input.parentId !== null)
    spanText(input.parentId, previous?.parentId, index, 'parentId', MAX_ROLLOUT_ID_LENGTH, true);
  if (input.sequenceId !== undefined && input.sequenceId !== null) {
    const sequenceId = input.sequenceId;
    if (!Number.isSafeInteger(sequenceId) || sequenceId < 0 || sequenceId > MAX_SPAN_SEQUENCE_ID) {
      throw new InvalidInputError(
        `${field}.sequenceId must be an integer from 0 to ${MAX_SPAN_SEQUENCE_ID}`,
        {
          field: `${field}.sequenceId`,
          value: input.sequenceId,
        },
      );
    }
  }
  if (input.attributes !== undefined && input.attributes !== null && !isPlainObject(input.attributes)) {
    throw new InvalidInputError(`${field}.attributes must be an object`, { field: `${field}.attributes` });
  }
  // The depth of the stored value is checked where its JSON text is built (spanJson), not by a second walk.
  const span = {
    ...input,
    parentId: input.parentId ?? null,
    status: input.status ?? { statusCode: 'UNSET', description: null },
    attributes: input.attributes ?? {},
    events: input.events ?? [],
    links: input.links ?? [],
    startTime: input.startTime ?? null,
    endTime: input.endTime ?? null,
    context: input.context ?? null,
    parent: input.parent ?? null,
    resource: input.resource ?? { attributes: {}, schemaUrl: '' },
  };
  if (input.sequenceId === undefined || input.sequenceId === null)
    delete (span as { sequenceId?: number }).sequenceId;
  return span;
}
