import { InvalidInputError } from '../errors.ts';

/** Encodes the last id of a page as an opaque cursor. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify([lastId]), 'utf8').toString('base64url');
}

/** Decodes a cursor from `encodeCursor`; a forged or damaged one is `INVALID_INPUT`. */
export function decodeCursor(cursor: string | undefined, namespace: string): string | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && typeof parsed[0] === 'string') return parsed[0];
  } catch {
    // fall through to the error below
  }
  throw new InvalidInputError(
    'invalid list cursor: pass the cursor returned by the previous page unchanged',
    { namespace, cursor },
  );
}
