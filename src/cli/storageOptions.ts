/**
 * Storage options of the commands that open stores directly (`backup`, `check`): the encryption keys and
 * compression the stores were written with, as the drivers take them. A key is never given literally on
 * the command line (it would show in `ps` and shell history): `--encryption-key-env [id=]VAR` reads it from
 * an environment variable, `--encryption-key-file [id=]PATH` from a file; either may repeat (old keys
 * for rotation). A key is 32 bytes, written as 64 hex digits or base64 (a file may also hold the raw 32
 * bytes).
 */
import { readFileSync } from 'node:fs';
import type { Compression, EncryptionKeys } from '../codec/index.ts';
import { InvalidInputError } from '../errors.ts';

/** The options, to spread into a command's parseArgs options. */
export const STORAGE_OPTIONS = {
  'encryption-key-env': { type: 'string', multiple: true },
  'encryption-key-file': { type: 'string', multiple: true },
  'encryption-key-id': { type: 'string' },
  compression: { type: 'string' },
} as const;

/** Help lines of the options. */
export const STORAGE_HELP = `  --encryption-key-env <[id=]VAR>   Key of an encrypted store from an environment variable (hex or base64; repeat for old keys)
  --encryption-key-file <[id=]PATH> The same from a file (hex, base64 or 32 raw bytes)
  --encryption-key-id <id>          Key that encrypts new values (default: the first given; ids default to 'default')
  --compression <none|gzip|brotli>  How restored values are stored (as the store is opened)`;

/** The storage options as the drivers and backup sources take them. */
export interface CliStorage {
  compression?: Compression;
  encryption?: EncryptionKeys;
}

/** A key's bytes from its text (hex or base64) or raw bytes; INVALID_INPUT naming the option otherwise. */
function keyBytes(raw: Buffer, option: string, where: string): Uint8Array {
  if (raw.length === 32) return new Uint8Array(raw);
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  const decoded = Buffer.from(text, 'base64');
  if (decoded.length === 32 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return new Uint8Array(decoded);
  throw new InvalidInputError(
    `--${option} ${where}: an encryption key is 32 bytes, written as 64 hex digits or base64`,
    { option, where },
  );
}

/** `[id=]rest` split into id and rest. */
function named(value: string): [string, string] {
  const at = value.indexOf('=');
  return at > 0 ? [value.slice(0, at), value.slice(at + 1)] : ['default', value];
}

/** Reads the storage options given; undefined when none were. */
export function storageFromArgs(values: {
  'encryption-key-env'?: string[] | undefined;
  'encryption-key-file'?: string[] | undefined;
  'encryption-key-id'?: string | undefined;
  compression?: string | undefined;
}): CliStorage | undefined {
  const keys: Record<string, Uint8Array> = {};
  const order: string[] = [];
  const add = (id: string, key: Uint8Array, option: string) => {
    if (id in keys)
      throw new InvalidInputError(`--${option}: key id '${id}' is given twice`, { option, keyId: id });
    keys[id] = key;
    order.push(id);
  };
  for (const value of values['encryption-key-env'] ?? []) {
    const [id, variable] = named(value);
    const text = process.env[variable];
    if (text === undefined || text === '') {
      throw new InvalidInputError(`--encryption-key-env: the environment variable ${variable} is not set`, {
        option: 'encryption-key-env',
        variable,
      });
    }
    add(id, keyBytes(Buffer.from(text, 'utf8'), 'encryption-key-env', variable), 'encryption-key-env');
  }
  for (const value of values['encryption-key-file'] ?? []) {
    const [id, path] = named(value);
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (error) {
      throw new InvalidInputError(
        `--encryption-key-file: cannot read ${path}`,
        { option: 'encryption-key-file', path },
        {
          cause: error,
        },
      );
    }
    add(id, keyBytes(raw, 'encryption-key-file', path), 'encryption-key-file');
  }
  const storage: CliStorage = {};
  if (order.length > 0) {
    const keyId = values['encryption-key-id'] ?? order[0]!;
    if (!(keyId in keys)) {
      throw new InvalidInputError(`--encryption-key-id '${keyId}' names no key given`, {
        option: 'encryption-key-id',
        keyId,
      });
    }
    storage.encryption = { keyId, keys };
  } else if (values['encryption-key-id'] !== undefined) {
    throw new InvalidInputError('--encryption-key-id needs --encryption-key-env or --encryption-key-file', {
      option: 'encryption-key-id',
    });
  }
  if (values.compression !== undefined) storage.compression = values.compression as Compression;
  return Object.keys(storage).length > 0 ? storage : undefined;
}
