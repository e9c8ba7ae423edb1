/**
 * Preload (`node --import`) for tests of what an entry point loads: records every module file and `node:`
 * builtin the process loads (ESM and CommonJS, through a synchronous module hook) and every native addon, and writes them as
 * JSON to $RECORD_MODULES_FILE at exit. $RECORD_MISSING_PACKAGES (comma-separated names) makes those
 * packages unresolvable, as if they were not installed.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
const missing = new Set((process.env.RECORD_MISSING_PACKAGES ?? '').split(',').filter(Boolean));

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (missing.has(specifier)) {
      // The shape Node gives a package that is not installed.
      throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (url.startsWith('file:') || url.startsWith('node:')) loaded.add(url);
    return nextLoad(url, context);
  },
});

process.on('exit', () => {
  const file = process.env.RECORD_MODULES_FILE;
  if (!file) return;
  const report = process.report.getReport() as { sharedObjects?: string[] };
  const native = (report.sharedObjects ?? []).filter((path) => path.endsWith('.node'));
  writeFileSync(file, JSON.stringify({ modules: [...loaded], native }));
});
