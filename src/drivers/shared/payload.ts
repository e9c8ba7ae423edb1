import {
  type Compression,
  checkEncryptionKeys,
  compress,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  decompress,
  decrypt,
  type EncryptionKeys,
  encrypt,
  isEncrypted,
  sha256,
} from '../../codec/index.ts';
import { AgentStateError, CorruptStateError, InvalidInputError, UnavailableError } from '../../errors.ts';
import type { DriverOptions, StorageInfo } from '../types.ts';
import { checkDriverOptions, type OptionSchema, type OptionSchemaOf } from './optionSchema.ts';

/** Values smaller than this many bytes are stored uncompressed unless `compressAboveBytes` says otherwise. */
export const DEFAULT_COMPRESS_ABOVE_BYTES = 1024;

const COMPRESSIONS: readonly string[] = ['none', 'gzip', 'brotli'];

/** The options every driver takes (`DriverOptions`), by kind. */
export const SHARED_DRIVER_OPTIONS = {
  codec: 'code',
  now: 'code',
  sweepIntervalMs: 'positiveWholeNumber',
  compression: COMPRESSIONS,
  compressAboveBytes: 'wholeNumber',
  verifyChecksums: 'boolean',
  // Key material: a config file names where keys come from instead (see persistence/config.ts).
  encryption: 'code',
  maxDecompressedBytes: 'positiveWholeNumber',
  onError: 'code',
} as const satisfies OptionSchemaOf<DriverOptions>;

/** How a driver turns a value's JSON text into stored bytes and back (see `packPayload`). */
export interface PayloadSettings {
  compression: Compression;
  compressAboveBytes: number;
  verifyChecksums: boolean;
  encryption: EncryptionKeys | undefined;
  /** Bound on a decompressed value (default `DEFAULT_MAX_DECOMPRESSED_BYTES`). */
  maxDecompressedBytes?: number;
}

/** A value ready to store: the bytes (the JSON text itself when neither compressed nor encrypted). */
export interface PackedPayload {
  /** The JSON text when stored as is; undefined when `bytes` are compressed and/or encrypted. */
  text: string | undefined;
  /** The stored bytes (UTF-8 of `text` when plain). */
  bytes: Uint8Array;
  /** Size, checksum and form of the stored bytes. */
  storage: StorageInfo;
}

/**
 * Validates the options every driver shares and refuses any option the driver does not know, so a
 * misspelt or unsupported option (`compresion`, a `dir` given to the memory driver) is an error, never
 * silently ignored. Returns the payload settings with defaults.
 */
export function payloadSettings(
  options: DriverOptions,
  driver: string,
  driverOptions: OptionSchema,
): PayloadSettings {
  // The driver's own options are checked by kind here; the shared ones below, with their own messages.
  checkDriverOptions(
    options,
    driver,
    { ...SHARED_DRIVER_OPTIONS, ...driverOptions },
    {
      ...driverOptions,
      sweepIntervalMs: SHARED_DRIVER_OPTIONS.sweepIntervalMs,
    },
  );
  const compression = options.compression ?? 'none';
  if (!COMPRESSIONS.includes(compression)) {
    throw new InvalidInputError(
      `compression must be 'none', 'gzip' or 'brotli', got ${JSON.stringify(compression)}`,
      { driver, option: 'compression' },
    );
  }
  const above = options.compressAboveBytes ?? DEFAULT_COMPRESS_ABOVE_BYTES;
  if (!Number.isSafeInteger(above) || above < 0) {
    throw new InvalidInputError(`compressAboveBytes must be a whole number of bytes, got ${String(above)}`, {
      driver,
      option: 'compressAboveBytes',
    });
  }
  if (options.verifyChecksums !== undefined && typeof options.verifyChecksums !== 'boolean') {
    throw new InvalidInputError('verifyChecksums must be true or false', {
      driver,
      option: 'verifyChecksums',
    });
  }
  if (options.encryption !== undefined) checkEncryptionKeys(options.encryption);
  const maxDecompressed = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  if (!Number.isSafeInteger(maxDecompressed) || maxDecompressed < 1) {
    throw new InvalidInputError(
      `maxDecompressedBytes must be a positive whole number of bytes, got ${String(maxDecompressed)}`,
      { driver, option: 'maxDecompressedBytes' },
    );
  }
  return {
    maxDecompressedBytes: maxDecompressed,
    compression,
    compressAboveBytes: above,
    verifyChecksums: options.verifyChecksums ?? false,
    encryption: options.encryption,
  };
}

/**
 * Turns a value's JSON text into the bytes to store: compressed when the settings ask for it and the
 * text is at least `compressAboveBytes` long (and only if that makes it smaller), then encrypted when a
 * key is configured. The checksum is the SHA-256 of exactly the bytes stored.
 */
export function packPayload(text: string, settings: PayloadSettings): PackedPayload {
  const plain = Buffer.from(text, 'utf8');
  let bytes: Uint8Array = plain;
  let compression: Compression = 'none';
  if (settings.compression !== 'none' && plain.byteLength >= settings.compressAboveBytes) {
    const compressed = compress(plain, settings.compression);
    if (compressed.byteLength < plain.byteLength) {
      bytes = compressed;
      compression = settings.compression;
    }
  }
  if (settings.encryption) bytes = encrypt(bytes, settings.encryption);
  const stored = bytes === plain;
  return {
    text: stored ? text : undefined,
    bytes,
    storage: {
      sizeBytes: bytes.byteLength,
      plainBytes: plain.byteLength,
      checksum: sha256(bytes),
      compression,
      ...(settings.encryption && { keyId: settings.encryption.keyId }),
    },
  };
}

/** Where a payload was read from, for error messages. */
export interface PayloadSource {
  namespace: string;
  id: string;
  /** `SQLite table x`, `schema y`, a file path. */
  where: string;
}

/**
 * The JSON text of stored bytes (or of a stored plain text): the checksum is verified first when
 * `verifyChecksums` is on, then the value is decrypted and decompressed as its header says. Every
 * failure is a coded error naming the document; the stored bytes are never changed.
 */
export function unpackPayload(
  stored: Uint8Array | string,
  checksum: string | null | undefined,
  settings: PayloadSettings,
  source: PayloadSource,
): string {
  const { namespace, id, where } = source;
  if (settings.verifyChecksums && checksum) {
    const actual = sha256(stored);
    if (actual !== checksum) {
      throw new CorruptStateError(
        `the stored value of ${namespace}/${id} in ${where} does not match its SHA-256 checksum; the bytes are kept as they are`,
        {
          namespace,
          id,
          where,
          expectedChecksum: checksum,
          actualChecksum: actual,
          reason: 'checksum-mismatch',
        },
      );
    }
  }
  if (typeof stored === 'string') return stored;
  try {
    let bytes = stored;
    if (isEncrypted(bytes)) bytes = decrypt(bytes, settings.encryption);
    return Buffer.from(decompress(bytes, settings.maxDecompressedBytes)).toString('utf8');
  } catch (error) {
    if (!(error instanceof AgentStateError)) throw error;
    const message = `the stored value of ${namespace}/${id} in ${where} cannot be read: ${error.message}; the bytes are kept as they are`;
    const details = { ...error.details, namespace, id, where };
    if (error.code === 'CORRUPT_STATE') throw new CorruptStateError(message, details, { cause: error });
    if (error.code === 'UNAVAILABLE') throw new UnavailableError(message, details, { cause: error });
    throw new AgentStateError(error.code, message, details, { cause: error });
  }
}
