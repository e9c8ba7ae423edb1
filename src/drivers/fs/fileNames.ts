import { sha256 } from '../../codec/index.ts';
import { InvalidInputError } from '../../errors.ts';

/** Extension of document files. Each holds two JSON lines (header, value), hence `.jsonl`. */
export const DOCUMENT_EXTENSION = '.jsonl';

// Leaves room for the extension and a quarantine suffix within the usual 255-byte name limit.
const MAX_PLAIN_NAME = 160;
const HEX = '0123456789ABCDEF';

/**
 * Refuses ids that look like paths: `.`, `..`, and anything with `/` or `\` (which covers `../x` and
 * absolute paths; NUL bytes are refused by `checkId`). The seeds joined ids straight into file paths, so
 * `../../etc/passwd` escaped the directory. Accepted ids are still never used as path fragments: see
 * `encodeName`.
 */
export function checkFsId(id: string, namespace: string): void {
  if (id === '.' || id === '..' || id.includes('/') || id.includes('\\')) {
    throw new InvalidInputError(
      `document id ${JSON.stringify(id)} is refused by the filesystem driver: ids may not be '.' or '..' or contain '/' or '\\'; use another separator such as ':'`,
      { namespace, id },
    );
  }
}

/**
 * Maps any string to a file name that is safe and distinct on every common filesystem: lowercase
 * letters, digits, `_` and `-` stay as they are, a `.` stays unless it leads; every other UTF-16 code
 * unit becomes `%HH` (below 0x80) or `%uHHHH` with uppercase hex. Uppercase letters are escaped too, so
 * `A` and `a` stay two files on case-insensitive filesystems (macOS, Windows); lone surrogates survive.
 */
export function encodeName(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const plain =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x5f ||
      c === 0x2d ||
      (c === 0x2e && i > 0);
    if (plain) out += text[i];
    else if (c < 0x80) out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
    else out += `%u${HEX[c >> 12]}${HEX[(c >> 8) & 15]}${HEX[(c >> 4) & 15]}${HEX[c & 15]}`;
  }
  return out;
}

// Long names keep a readable start and end with `~` (never produced by encodeName) and a SHA-256.
function shorten(encoded: string): string {
  if (encoded.length <= MAX_PLAIN_NAME) return encoded;
  return `${encoded.slice(0, 80)}~${sha256(encoded)}`;
}

/** File name of a document (the id itself is read back from the file's header, never from the name). */
export function documentFileName(id: string): string {
  return `${shorten(encodeName(id))}${DOCUMENT_EXTENSION}`;
}

/** Directory name of a namespace. */
export function namespaceDirName(namespace: string): string {
  return shorten(encodeName(namespace));
}
