/**
 * Copies the dashboard's static files (src/server/dashboard/) next to the compiled server in dist/, since
 * tsc emits only compiled TypeScript. Part of `npm run build`.
 */
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../src/server/dashboard/', import.meta.url);
const to = new URL('../dist/server/dashboard/', import.meta.url);
// Start clean so a file dropped from the source does not linger in the package.
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
