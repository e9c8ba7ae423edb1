/**
 * The Node.js version agentstate runs on, checked before anything else loads. On an older Node the
 * native SQLite module crashes the process with a bare "Segmentation fault", and the TypeScript sources
 * (`npm start`) fail with ERR_UNKNOWN_FILE_EXTENSION; a one-line refusal says what to do instead.
 *
 * This file imports nothing and uses no syntax newer than Node 18, so that the check itself runs on old
 * versions. Keep `MIN_NODE` equal to package.json `engines.node` (a test compares them).
 */

/** Oldest supported Node.js: 22 for better-sqlite3, 22.18 for running the .ts sources without a flag. */
export const MIN_NODE = '22.18.0';

function parts(version: string): number[] {
  return version
    .replace(/^v/, '')
    .split('.')
    .map((part) => Number.parseInt(part, 10) || 0);
}

/** True when `version` (e.g. `24.1.0` or `v20.20.2`) is at least `minimum`. */
export function isSupportedNode(version: string, minimum: string = MIN_NODE): boolean {
  const have = parts(version);
  const need = parts(minimum);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** The one-line refusal for an unsupported Node, or undefined when `version` is supported. */
export function unsupportedNodeMessage(version: string = process.versions.node): string | undefined {
  if (isSupportedNode(version)) return undefined;
  return (
    `agentstate needs Node.js >= ${MIN_NODE}, but this is Node.js ${version} (${process.execPath}); ` +
    `install Node ${MIN_NODE} or newer (https://nodejs.org/en/download, or \`nvm install 24\`), ` +
    'or run it from a clone with `npm start`, which uses the pinned Node from node_modules'
  );
}

/** Prints the refusal on stderr and exits 1 when this Node is too old (for command-line entry points). */
export function exitIfUnsupportedNode(): void {
  const message = unsupportedNodeMessage();
  if (message === undefined) return;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
