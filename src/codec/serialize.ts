import type { Codec } from './codec.ts';
import { type Compression, compress, compressAsync, decompress, decompressAsync } from './compression.ts';

/** Options of `serialize`. */
export interface SerializeOptions {
  /** Compression of the bytes; `none` (default) keeps them readable JSON. */
  compression?: Compression;
  /** Indentation for uncompressed output, for files people read. */
  space?: number;
}

/** Encodes a value to bytes: UTF-8 JSON of the tagged form, optionally compressed. */
export function serializeWith(codec: Codec, value: unknown, options: SerializeOptions = {}): Uint8Array {
  const bytes = Buffer.from(codec.stringify(value, options.space), 'utf8');
  return compress(bytes, options.compression ?? 'none');
}

/** Async `serializeWith`: compression runs on the libuv thread pool. */
export async function serializeWithAsync(
  codec: Codec,
  value: unknown,
  options: SerializeOptions = {},
): Promise<Uint8Array> {
  const bytes = Buffer.from(codec.stringify(value, options.space), 'utf8');
  return compressAsync(bytes, options.compression ?? 'none');
}

/** Decodes bytes made by `serialize`, detecting compression from the header. */
export function deserializeWith(codec: Codec, bytes: Uint8Array): unknown {
  return codec.parse(Buffer.from(decompress(bytes)).toString('utf8'));
}

/** Async `deserializeWith`. */
export async function deserializeWithAsync(codec: Codec, bytes: Uint8Array): Promise<unknown> {
  const plain = await decompressAsync(bytes);
  return codec.parse(Buffer.from(plain).toString('utf8'));
}
