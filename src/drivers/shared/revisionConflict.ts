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
