/**
 * Loads a third-party package the first time a store that needs it is created, not when agentstate is
 * imported. `import 'agentstate'` then costs no database driver (pg, ioredis) and no native module
 * (better-sqlite3): most programs use one backend, and a client or TTL-only program uses none.
 *
 * The load is synchronous (`require`), so store constructors stay synchronous; every package loaded here
 * is CommonJS. A package that is not installed is a `MISSING_DEPENDENCY` error that names it and says
 * how to install it, instead of Node's bare "Cannot find package" from deep inside a constructor.
 */
import { createRequire } from 'node:module';
import { MissingDependencyError } from '../errors.ts';

/** The packages agentstate loads on demand. */
export type OptionalPackage = 'pg' | 'ioredis' | 'better-sqlite3';

const requireFromHere = createRequire(import.meta.url);

/** `require(name)`, or a MissingDependencyError naming the package and the feature (`neededBy`) that needs it. */
export function loadPackage<T>(name: OptionalPackage, neededBy: string): T {
  try {
    return requireFromHere(name) as T;
  } catch (error) {
    // Only the package itself being absent is "missing"; an error inside it (a broken native build)
    // keeps its own message, as the cause of nothing else.
    const code = (error as { code?: unknown }).code;
    const message = (error as { message?: unknown }).message;
    const absent =
      code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${name}'`);
    if (!absent) throw error;
    throw new MissingDependencyError(
      `${neededBy} needs the package '${name}', which is not installed: run \`npm install ${name}\``,
      { package: name, neededBy },
      { cause: error },
    );
  }
}
