/**
 * The persistence config (seed 004, section 5.2): named backends, a default backend and ordered rules,
 * from an object or a `.yaml`/`.yml`/`.json` file. Every option is checked; an unknown one is an error
 * naming it, never ignored. Encryption keys are read from an environment variable or a key file named in
 * the config, never from the config text itself.
 */
import { readFileSync } from 'node:fs';
import type { EncryptionKeys } from '../codec/index.ts';
import {
  createFsStore,
  createMemoryStore,
  createPostgresStore,
  createRedisStore,
  createSqliteStore,
  type DocumentStore,
  FS_STORE_OPTIONS,
  type FsStoreOptions,
  MEMORY_STORE_OPTIONS,
  type MemoryStoreOptions,
  type OptionKind,
  type OptionSchema,
  optionProblem,
  POSTGRES_STORE_OPTIONS,
  type PostgresStoreOptions,
  REDIS_STORE_OPTIONS,
  type RedisStoreOptions,
  SHARED_DRIVER_OPTIONS,
  SQLITE_STORE_OPTIONS,
  type SqliteStoreOptions,
} from '../drivers/index.ts';
import { InvalidInputError } from '../errors.ts';
import type { BackgroundErrorHandler } from '../shared/backgroundErrors.ts';
import { trackAccess } from './accessTracking.ts';
import { type CachedStoreOptions, createCachedStore } from './cachedStore.ts';
import type { PerformanceMonitor } from './monitor.ts';
import { PersistenceRouter } from './router.ts';
import { type ConfigFailure, compileRules, failInObject, type PersistenceRule } from './rules.ts';

/** Where an encryption key comes from: exactly one of `keyEnv` and `keyFile`. */
export interface KeySourceConfig {
  /** Id stored with each value written with this key. */
  keyId: string;
  /** Environment variable holding the key: 32 bytes as base64 or 64 hex digits. */
  keyEnv?: string;
  /** File holding the key: 32 raw bytes, base64 or 64 hex digits. */
  keyFile?: string;
}

/** Encryption of a backend: the key new values are written with, and older keys still readable. */
export interface EncryptionConfig extends KeySourceConfig {
  /** Keys of earlier rotations, needed to read values written with them. */
  previousKeys?: KeySourceConfig[];
}

/** Options a config adds to those of the driver of every backend type. */
export interface CommonBackendConfig {
  /** Encryption at rest (AES-256-GCM), keys named by where they come from. */
  encryption?: EncryptionConfig;
  /** Put a `CachedStore` in front of the backend. */
  cache?: CachedStoreOptions;
  /** Count reads per document, written in batches (see `trackAccess`). */
  trackAccess?: boolean;
}

// What a config can give a driver: every option but those only code can give (functions, clients,
// open connections, key material). Kept in step with the drivers' option schemas below.
type FromConfig<O> = Omit<O, 'codec' | 'now' | 'encryption'>;

/** One named backend: its type and the options of its driver (`SqliteStoreOptions` ...) a file can write. */
export type BackendConfig = CommonBackendConfig &
  (
    | ({ type: 'memory' } & FromConfig<MemoryStoreOptions>)
    | ({ type: 'filesystem'; dir: string } & FromConfig<Omit<FsStoreOptions, 'onCorruption'>>)
    | ({ type: 'sqlite'; path: string } & FromConfig<Omit<SqliteStoreOptions, 'database'>>)
    | ({ type: 'postgres'; connectionString: string } & FromConfig<Omit<PostgresStoreOptions, 'pool'>>)
    | ({ type: 'redis'; url: string } & FromConfig<Omit<RedisStoreOptions, 'redis'>>)
  );

/** The whole persistence config. */
export interface PersistenceConfig {
  /** Backend of keys no rule matches. */
  defaultBackend: string;
  /** Backends by name. */
  backends: Record<string, BackendConfig>;
  /** Ordered routing rules. */
  rules?: PersistenceRule[];
}

type Kind = OptionKind | 'positiveNumber' | 'encryption' | 'cache';

/**
 * The options a config accepts for one backend type: the options its driver declares (its own and the
 * shared ones, the single source of truth), minus those only code can give, plus the config's own.
 * A driver option added to a driver's schema is accepted here without a change to this file.
 */
function configOptions(driver: OptionSchema, extra: Record<string, Kind> = {}): Record<string, Kind> {
  const options: Record<string, Kind> = { ...extra };
  for (const [key, kind] of Object.entries({ ...driver, ...SHARED_DRIVER_OPTIONS })) {
    if (kind !== 'code') options[key] = kind;
  }
  return { ...options, encryption: 'encryption', cache: 'cache', trackAccess: 'boolean' };
}

const BACKEND_TYPES: Record<string, { required: string[]; options: Record<string, Kind> }> = {
  memory: { required: [], options: configOptions(MEMORY_STORE_OPTIONS) },
  filesystem: { required: ['dir'], options: configOptions(FS_STORE_OPTIONS) },
  sqlite: { required: ['path'], options: configOptions(SQLITE_STORE_OPTIONS) },
  postgres: { required: ['connectionString'], options: configOptions(POSTGRES_STORE_OPTIONS) },
  // The driver's `redis` is a client or a URL, so only code gives it; a file gives the URL as `url`.
  redis: { required: ['url'], options: configOptions(REDIS_STORE_OPTIONS, { url: 'string' }) },
};

const CACHE_OPTIONS: Record<string, Kind> = {
  maxEntries: 'positiveWholeNumber',
  maxBytes: 'positiveWholeNumber',
  ttlMs: 'positiveNumber',
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function checkKind(value: unknown, kind: Kind, field: string, fail: ConfigFailure): void {
  switch (kind) {
    case 'positiveNumber':
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
        fail(field, `must be a positive finite number, got ${JSON.stringify(value)}`);
      return;
    case 'cache':
      checkObject(value, CACHE_OPTIONS, [], field, fail);
      return;
    case 'encryption': {
      checkKeySource(value, field, fail, true);
      const previous = (value as Record<string, unknown>).previousKeys;
      if (previous === undefined) return;
      if (!Array.isArray(previous))
        fail(`${field}.previousKeys`, 'must be a list of { keyId, keyEnv | keyFile }');
      (previous as unknown[]).forEach((p, i) => {
        checkKeySource(p, `${field}.previousKeys[${i}]`, fail, false);
      });
      return;
    }
    default: {
      const problem = optionProblem(value, kind);
      if (problem !== undefined) fail(field, problem);
    }
  }
}

function checkKeySource(value: unknown, field: string, fail: ConfigFailure, current: boolean): void {
  if (isObject(value) && 'key' in value)
    fail(`${field}.key`, 'keys never go in the config: use keyEnv or keyFile');
  const options: Record<string, Kind> = { keyId: 'string', keyEnv: 'string', keyFile: 'string' };
  checkObject(value, options, ['keyId'], field, fail, current ? ['previousKeys'] : []);
  const source = value as Record<string, unknown>;
  if ((source.keyEnv === undefined) === (source.keyFile === undefined)) {
    fail(field, 'give exactly one of keyEnv (an environment variable) and keyFile (a key file)');
  }
}

function checkObject(
  value: unknown,
  options: Record<string, Kind>,
  required: string[],
  field: string,
  fail: ConfigFailure,
  skip: string[] = [],
): void {
  if (!isObject(value)) fail(field, `must be a mapping, got ${JSON.stringify(value)}`);
  const object = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(object)) {
    if (skip.includes(key)) continue;
    const kind = options[key];
    if (!kind) fail(`${field}.${key}`, `unknown option; expected one of ${Object.keys(options).join(', ')}`);
    checkKind(v, kind as Kind, `${field}.${key}`, fail);
  }
  for (const key of required) if (object[key] === undefined) fail(`${field}.${key}`, 'is required');
}

/**
 * Checks a config (the seed's `persistence:` wrapper is accepted) and returns it typed. `fail` reports an
 * error at a field; the default throws `INVALID_INPUT` naming it.
 */
export function checkPersistenceConfig(raw: unknown, fail: ConfigFailure = failInObject): PersistenceConfig {
  const wrapped = isObject(raw) && Object.keys(raw).length === 1 && 'persistence' in raw;
  const prefix = wrapped ? 'persistence.' : '';
  const config = wrapped ? (raw as { persistence: unknown }).persistence : raw;
  const at = (field: string) => `${prefix}${field}`;
  const failAt: ConfigFailure = (field, message) => fail(at(field), message);
  if (!isObject(config))
    failAt(prefix ? 'persistence' : '(root)', 'must be a mapping with backends, defaultBackend, rules');
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!['defaultBackend', 'backends', 'rules'].includes(key)) {
      failAt(key, 'unknown option; expected defaultBackend, backends or rules');
    }
  }
  if (!isObject(c.backends) || Object.keys(c.backends).length === 0) {
    failAt('backends', 'must name at least one backend, e.g. { main: { type: sqlite, path: ./state.db } }');
  }
  for (const [name, backend] of Object.entries(c.backends as Record<string, unknown>)) {
    const field = `backends.${name}`;
    if (!isObject(backend)) failAt(field, 'must be a mapping with a type');
    const type = (backend as Record<string, unknown>).type;
    const spec = BACKEND_TYPES[type as string];
    if (!spec) {
      failAt(
        `${field}.type`,
        `${JSON.stringify(type)} is not a backend type; use ${Object.keys(BACKEND_TYPES).join(', ')}`,
      );
    }
    const { type: _type, ...options } = backend as Record<string, unknown>;
    checkObject(options, spec!.options, spec!.required, field, failAt);
  }
  compileRules(c.defaultBackend, c.rules, Object.keys(c.backends as object), failAt);
  return config as unknown as PersistenceConfig;
}

/** Reads and checks a config file; errors name the file, the line and the field. */
export async function loadPersistenceConfig(path: string): Promise<PersistenceConfig> {
  // The YAML parser loads when a config file is read, not with the package (see tests/package).
  const { readConfigFile } = await import('./configFile.ts');
  const source = await readConfigFile(path);
  return checkPersistenceConfig(source.data, source.fail);
}

/** Reads a 32-byte key from an environment variable or a key file (raw bytes, base64 or hex). */
export function readEncryptionKey(source: KeySourceConfig): Uint8Array {
  let material: Buffer;
  const where =
    source.keyEnv !== undefined ? `environment variable ${source.keyEnv}` : `key file ${source.keyFile}`;
  if (source.keyEnv !== undefined) {
    const text = process.env[source.keyEnv];
    if (!text)
      throw new InvalidInputError(`encryption key '${source.keyId}': ${where} is not set`, {
        keyId: source.keyId,
      });
    material = Buffer.from(text.trim(), 'utf8');
  } else {
    try {
      material = readFileSync(source.keyFile!);
    } catch (error) {
      throw new InvalidInputError(
        `encryption key '${source.keyId}': ${where} cannot be read: ${(error as Error).message}`,
        { keyId: source.keyId },
      );
    }
  }
  if (material.byteLength === 32) return material;
  const text = material.toString('utf8').trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.byteLength !== 32) {
    throw new InvalidInputError(
      `encryption key '${source.keyId}' in ${where} must be 32 bytes (raw, base64 or 64 hex digits)`,
      { keyId: source.keyId },
    );
  }
  return key;
}

function encryptionKeys(config: EncryptionConfig): EncryptionKeys {
  const keys: Record<string, Uint8Array> = {};
  for (const source of [...(config.previousKeys ?? []), config])
    keys[source.keyId] = readEncryptionKey(source);
  return { keyId: config.keyId, keys };
}

/**
 * Opens the store of one backend (wrapped in a `CachedStore` when it has `cache`); `onError` receives the
 * background errors of the cache's invalidation feed and of access counting.
 */
export function openBackend(config: BackendConfig, onError?: BackgroundErrorHandler): DocumentStore {
  // A checked config names driver options exactly as the drivers do, so they pass through unchanged.
  const { type, cache, trackAccess: counted, encryption, ...options } = config;
  const driverOptions = { ...options, ...(encryption && { encryption: encryptionKeys(encryption) }) };
  let store: DocumentStore;
  switch (type) {
    case 'memory':
      store = createMemoryStore(driverOptions);
      break;
    case 'filesystem':
      store = createFsStore(driverOptions);
      break;
    case 'sqlite':
      store = createSqliteStore(driverOptions);
      break;
    case 'postgres':
      store = createPostgresStore(driverOptions);
      break;
    case 'redis': {
      const { url, ...rest } = driverOptions as typeof driverOptions & { url: string };
      store = createRedisStore({ ...rest, redis: url });
      break;
    }
  }
  // Counting sits behind the cache: only reads that reach the backend are counted (hits are in the cache's
  // own statistics), so a hot document costs no extra work on the hit path.
  const reporting = onError && { onError };
  if (counted) store = trackAccess(store, { ...reporting });
  return cache ? createCachedStore(store, { ...cache, ...reporting }) : store;
}

/** Options of `openPersistenceRouter`. */
export interface OpenRouterOptions {
  /** Time and measure every backend under its name. */
  monitor?: PerformanceMonitor;
  /** Receives the background errors of the backends' caches and access counting (default: a process warning). */
  onError?: BackgroundErrorHandler;
}

/**
 * A router from a config object, or from a config file path. Backends are opened here and closed with
 * the router; if one fails to open, those already opened are closed.
 */
export async function openPersistenceRouter(
  config: PersistenceConfig | string,
  options: OpenRouterOptions = {},
): Promise<PersistenceRouter> {
  const checked =
    typeof config === 'string' ? await loadPersistenceConfig(config) : checkPersistenceConfig(config);
  const backends: Record<string, DocumentStore> = {};
  try {
    for (const [name, backend] of Object.entries(checked.backends)) {
      const store = openBackend(backend, options.onError);
      backends[name] = options.monitor ? options.monitor.instrument(store, name) : store;
    }
    return new PersistenceRouter({
      backends,
      defaultBackend: checked.defaultBackend,
      ...(checked.rules && { rules: checked.rules }),
    });
  } catch (error) {
    await Promise.allSettled(Object.values(backends).map((s) => s.close()));
    throw error;
  }
}
