import { RevisionConflictError } from '../../errors.ts';

/** The `RevisionConflictError` every driver throws for a stale `expectedRevision` (0 = create-only). */
export function revisionConflict(
  namespace: string,
  id: string,
  expected: number,
  actual: number,
): RevisionConflictError {
  return new RevisionConflictError(
    expected === 0
      ? `document ${namespace}/${id} already exists (revision ${actual}); read it and retry with its revision`
      : `document ${namespace}/${id} is at revision ${actual}, not ${expected}; read it again and retry`,
    { namespace, id, expectedRevision: expected, actualRevision: actual },
  );
}

/** Throws the `RevisionConflictError` when an `expectedRevision` was given and is not `actual` (0 = absent). */
export function checkRevision(
  namespace: string,
  id: string,
  expected: number | undefined,
  actual: number,
): void {
  if (expected !== undefined && expected !== actual) throw revisionConflict(namespace, id, expected, actual);
}
