/**
 * "Did you mean ...?" for unknown field names. Names are compared without case and separators first, so
 * `expected_revision` finds `expectedRevision` and `TTL-ms` finds `ttlMs`; otherwise the closest name by edit
 * distance is suggested when it is close enough to be a typo (at most a third of the name's letters differ).
 */
import { distance } from 'fastest-levenshtein';

const letters = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/** The known name `name` was most likely meant to be, or undefined when none is close. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const wanted = letters(name);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(wanted, letters(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(wanted.length / 3)) ? best : undefined;
}
