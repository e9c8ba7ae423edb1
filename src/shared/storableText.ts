/**
 * Whether a string can serve as a key in every backend: PostgreSQL text cannot hold NUL, and each id has a
 * documented length limit. (Lone UTF-16 surrogates are a separate question: the document drivers encode ids
 * so they survive UTF-8, see idKey.ts; the rollout store refuses them.)
 */

/** Why `text` cannot be stored as a key, or undefined when it can (lengths in UTF-16 code units). */
export function storableTextProblem(text: string, maxLength: number): string | undefined {
  if (text.length > maxLength) return `is ${text.length} characters long; at most ${maxLength} are allowed`;
  if (text.includes('\0')) return 'contains a NUL character (\\u0000)';
  return undefined;
}
