import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CorruptStateError, InvalidInputError, UnavailableError } from '../errors.ts';

/**
 * Keys for encryption at rest: `keyId` names the key new values are written with; `keys` holds it and
 * every older key still needed to read values written before a rotation. Keys come from the environment
 * or a key file (see the persistence config), never from a config text.
 */
export interface EncryptionKeys {
  /** Id of the key that encrypts new values; stored with each value. */
  readonly keyId: string;
  /** Every key by id, each 32 bytes (AES-256). */
  readonly keys: Readonly<Record<string, Uint8Array>>;
}

// `ASE` + format byte: like the compression header, no JSON text can start with `A`, so a reader tells
// encrypted, compressed and plain payloads apart from their first bytes.
const MAGIC = Buffer.from('ASE', 'latin1');
const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Throws `INVALID_INPUT` unless the keys are usable: a valid active id present, every key 32 bytes. */
export function checkEncryptionKeys(encryption: EncryptionKeys): void {
  if (encryption === null || typeof encryption !== 'object' || typeof encryption.keys !== 'object') {
    throw new InvalidInputError('encryption must be { keyId, keys: { [keyId]: 32-byte key } }', {});
  }
  for (const [id, key] of Object.entries(encryption.keys)) {
    if (!KEY_ID.test(id)) {
      throw new InvalidInputError(
        `encryption key id ${JSON.stringify(id)}: use 1-64 letters, digits, '_.:-'`,
        {
          keyId: id,
        },
      );
    }
    if (!(key instanceof Uint8Array) || key.byteLength !== 32) {
      throw new InvalidInputError(`encryption key '${id}' must be 32 bytes (AES-256-GCM)`, { keyId: id });
    }
  }
  if (!encryption.keys[encryption.keyId]) {
    throw new InvalidInputError(`encryption keyId '${encryption.keyId}' is not among the given keys`, {
      keyId: encryption.keyId,
    });
  }
}

/** Whether a payload carries the encryption header. */
export function isEncrypted(bytes: Uint8Array): boolean {
  return (
    bytes.length > MAGIC.length && bytes[0] === MAGIC[0] && bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2]
  );
}

/**
 * AES-256-GCM with a fresh random IV per value. Layout: `ASE`, format, key id length, key id, IV, tag,
 * ciphertext. The key id is authenticated as additional data, so moving a value under another id fails.
 */
export function encrypt(bytes: Uint8Array, encryption: EncryptionKeys): Uint8Array {
  const keyId = Buffer.from(encryption.keyId, 'utf8');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', encryption.keys[encryption.keyId]!, iv);
  cipher.setAAD(keyId);
  const body = Buffer.concat([cipher.update(bytes), cipher.final()]);
  return Buffer.concat([MAGIC, Buffer.from([FORMAT, keyId.length]), keyId, iv, cipher.getAuthTag(), body]);
}

/** The id of the key a payload was encrypted with (unchecked: `decrypt` validates the header). */
export function encryptionKeyId(bytes: Uint8Array): string {
  const length = bytes[MAGIC.length + 1] ?? 0;
  const start = MAGIC.length + 2;
  return Buffer.from(bytes.subarray(start, start + length)).toString('utf8');
}

/**
 * Reverses `encrypt`. A damaged header (format, key id, length) is `CORRUPT_STATE`; a well-formed key id
 * that is not configured is `UNAVAILABLE` (configure the old key to read it); a failed authentication
 * (wrong key bytes, or tampered data) is `CORRUPT_STATE`: never garbage.
 */
export function decrypt(bytes: Uint8Array, encryption: EncryptionKeys | undefined): Uint8Array {
  if (bytes[MAGIC.length] !== FORMAT) {
    throw new CorruptStateError(`unknown encryption format ${String(bytes[MAGIC.length])}`, {
      reason: 'corrupt-header',
    });
  }
  const idLength = bytes[MAGIC.length + 1] ?? 0;
  const ivAt = MAGIC.length + 2 + idLength;
  const tagAt = ivAt + IV_BYTES;
  const bodyAt = tagAt + TAG_BYTES;
  const keyId = encryptionKeyId(bytes);
  // Checked before the key lookup: a damaged header must read as damage, not as a key to configure.
  if (bytes.length < bodyAt || !KEY_ID.test(keyId) || Buffer.byteLength(keyId, 'utf8') !== idLength) {
    throw new CorruptStateError(
      'the encryption header is damaged (key id or length out of range): the value cannot be read',
      { reason: 'corrupt-header' },
    );
  }
  const key = encryption?.keys[keyId];
  if (!key) {
    throw new UnavailableError(
      `the value is encrypted with key '${keyId}', which is not configured: add it to the backend's encryption keys`,
      { keyId },
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(ivAt, tagAt));
    decipher.setAAD(Buffer.from(keyId, 'utf8'));
    decipher.setAuthTag(bytes.subarray(tagAt, bodyAt));
    return Buffer.concat([decipher.update(bytes.subarray(bodyAt)), decipher.final()]);
  } catch (error) {
    throw new CorruptStateError(
      `the value cannot be decrypted with key '${keyId}': the key is wrong or the bytes were altered`,
      { keyId, reason: 'decryption-failed' },
      { cause: error },
    );
  }
}
