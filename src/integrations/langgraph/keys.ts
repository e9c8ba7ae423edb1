export { part, parts } from '../../shared/idParts.ts';
export { checkIdentifier } from '../identifiers.ts';

/**
 * A checkpoint id written so that ascending id order is descending checkpoint order: each UTF-16 unit
 * `c` becomes `0xFFFF - c`, and `\uFFFF` ends the id. Listing a thread's checkpoints in the drivers' id
 * order then yields the newest first, so "latest checkpoint" is a one-document page and `list` with a
 * `limit` reads only what it returns. The terminator is above every mapped unit (ids hold no NUL, which
 * would map to `\uFFFF`), so a longer id sorts before its own prefix, as it sorts after it when ascending.
 */
export function descendingId(id: string): string {
  let out = '';
  for (let i = 0; i < id.length; i += 1) out += String.fromCharCode(0xffff - id.charCodeAt(i));
  return `${out}\uffff`;
}

/** The checkpoint id back from `descendingId`. */
export function fromDescendingId(encoded: string): string {
  let out = '';
  for (let i = 0; i < encoded.length - 1; i += 1) out += String.fromCharCode(0xffff - encoded.charCodeAt(i));
  return out;
}
