import { CorruptStateError } from '../errors.ts';

/**
 * Document ids made of several values (thread, key, revision, ...). `list({ prefix })` must select
 * exactly one thread or one key, so each part is written as `<length>:<text>`: a prefix of whole parts
 * never matches a longer or shorter value (with a plain separator, thread `a` would select `a/b`).
 */
export function part(text: string): string {
  return `${text.length}:${text}`;
}

/** The id of several parts, in order. */
export function parts(...texts: string[]): string {
  let id = '';
  for (const text of texts) id += part(text);
  return id;
}

/** Splits the first `count` parts off an id; returns them and the rest. Not such an id: `CORRUPT_STATE`. */
export function readParts(id: string, count: number): [string[], string] {
  const texts: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i += 1) {
    const colon = id.indexOf(':', at);
    const length = Number(id.slice(at, colon));
    if (colon < 0 || !Number.isSafeInteger(length) || colon + 1 + length > id.length) {
      throw new CorruptStateError(`document id ${JSON.stringify(id)} is not made of length-prefixed parts`, {
        id,
      });
    }
    texts.push(id.slice(colon + 1, colon + 1 + length));
    at = colon + 1 + length;
  }
  return [texts, id.slice(at)];
}

/** A revision number as a fixed-width id suffix, so id order is revision order. */
export function revisionSuffix(revision: number): string {
  return revision.toString().padStart(16, '0');
}
