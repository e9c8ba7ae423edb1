import { Codec } from './codec.ts';
import type { JsonValue } from './json.ts';
import {
  deserializeWith,
  deserializeWithAsync,
  type SerializeOptions,
  serializeWith,
  serializeWithAsync,
} from './serialize.ts';

export { sha256 } from './checksum.ts';
export { type ClassCodec, Codec } from './codec.ts';
export {
  type Compression,
  compress,
  compressAsync,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  decompress,
  decompressAsync,
  methodOf,
} from './compression.ts';
export {
  assertDepth,
  exceedsDepth,
  MAX_DEPTH,
  textMayExceedDepth,
  tooDeepError,
  tooDeepPath,
} from './depth.ts';
export {
  checkEncryptionKeys,
  decrypt,
  type EncryptionKeys,
  encrypt,
  encryptionKeyId,
  isEncrypted,
} from './encryption.ts';
export { type JsonObject, type JsonValue, setOwn } from './json.ts';
export { indexPath, propertyPath } from './path.ts';
export type { SerializeOptions } from './serialize.ts';
export { TAG } from './tags.ts';

/** The default codec; register application classes on it or create your own `Codec`. */
export const codec: Codec = new Codec();

/** Encodes a value to its JSON-safe tagged form with the default codec. */
export function encode(value: unknown): JsonValue {
  return codec.encode(value);
}

/** Decodes a tagged form with the default codec. */
export function decode(json: unknown): unknown {
  return codec.decode(json);
}

/** Encodes a value to bytes (optionally compressed) with the default codec, or the one given. */
export function serialize(value: unknown, options: SerializeOptions & { codec?: Codec } = {}): Uint8Array {
  return serializeWith(options.codec ?? codec, value, options);
}

/** Async `serialize`: compression runs off the main thread. */
export function serializeAsync(
  value: unknown,
  options: SerializeOptions & { codec?: Codec } = {},
): Promise<Uint8Array> {
  return serializeWithAsync(options.codec ?? codec, value, options);
}

/** Decodes bytes made by `serialize` with the default codec, or the one given. */
export function deserialize(bytes: Uint8Array, options: { codec?: Codec } = {}): unknown {
  return deserializeWith(options.codec ?? codec, bytes);
}

/** Async `deserialize`. */
export function deserializeAsync(bytes: Uint8Array, options: { codec?: Codec } = {}): Promise<unknown> {
  return deserializeWithAsync(options.codec ?? codec, bytes);
}
