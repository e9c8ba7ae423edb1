/**
 * A damaged SQLite file is reported, never repaired or replaced behind the user's back. better-sqlite3
 * raises `SQLITE_CORRUPT` (a damaged page, when it is read) or `SQLITE_NOTADB` (a damaged header, at open);
 * both become a `CorruptStateError` naming the file with the steps to recover, whether they happen at
 * start-up or when a query reaches a damaged page later. Nothing here writes to the file.
 */
import { CorruptStateError } from '../errors.ts';

/** Whether `error` is SQLite saying that the file is damaged or not a database. */
export function isSqliteCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'));
}

/** The steps to recover a damaged database file, in the order to try them. */
export function sqliteRecoverySteps(path: string): string[] {
  return [
    `stop every process that uses ${path}; agentstate leaves the file exactly as it is`,
    `restore the latest backup: agentstate restore <backup-file> (it keeps the damaged file aside)`,
    `or salvage what is readable: sqlite3 '${path}' '.recover' | sqlite3 recovered.db, check recovered.db, then move it in place of ${path} (keep the damaged file)`,
  ];
}

/** `error` as a CORRUPT_STATE error naming `path` when it is a corruption error; otherwise `error` itself. */
export function reportSqliteCorruption(error: unknown, path: string): unknown {
  if (!isSqliteCorruption(error) || error instanceof CorruptStateError) return error;
  const steps = sqliteRecoverySteps(path);
  const reason = error instanceof Error ? error.message : String(error);
  return new CorruptStateError(
    `the SQLite database ${path} is damaged (${reason}). To recover: ${steps.map((s, i) => `${i + 1}) ${s}`).join('; ')}`,
    {
      path,
      sqliteCode: (error as { code?: unknown }).code,
      recovery: steps,
    },
    { cause: error },
  );
}

/**
 * `target` with every method call passing SQLite corruption errors through `reportSqliteCorruption`,
 * thrown or as a rejected promise. Methods run on `target` itself (its private fields stay reachable); other
 * properties are read from it through the prototype chain.
 *
 * The wrappers are made once, here, as own methods of an object whose prototype is `target`: a Proxy would
 * cost a trap and a lookup on every call, and repository methods sit on the span-ingest hot path.
 */
export function withCorruptionReports<T extends object>(target: T, path: string): T {
  const wrapper = Object.create(target) as T;
  for (
    let owner: object | null = target;
    owner && owner !== Object.prototype;
    owner = Object.getPrototypeOf(owner)
  ) {
    for (const name of Object.getOwnPropertyNames(owner)) {
      const fn = Object.getOwnPropertyDescriptor(owner, name)?.value as unknown;
      if (name === 'constructor' || typeof fn !== 'function' || Object.hasOwn(wrapper, name)) continue;
      Object.defineProperty(wrapper, name, {
        value: (...args: unknown[]): unknown => {
          let result: unknown;
          try {
            result = fn.apply(target, args);
          } catch (error) {
            throw reportSqliteCorruption(error, path);
          }
          if (result instanceof Promise)
            return result.catch((error: unknown) => {
              throw reportSqliteCorruption(error, path);
            });
          return result;
        },
        writable: true,
        configurable: true,
      });
    }
  }
  return wrapper;
}
