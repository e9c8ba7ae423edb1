import { promisify } from 'node:util';
import {
  brotliCompress,
  brotliCompressSync,
  brotliDecompress,
  brotliDecompressSync,
  constants,
  gunzip,
  gunzipSync,
  gzip,
  gzipSync,
} from 'node:zlib';
import { CorruptStateError, InvalidInputError } from '../errors.ts';

/** Compression applied by `serialize`: none keeps the bytes human-readable JSON. */
export type Compression = 'none' | 'gzip' | 'brotli';

/**
 * Compressed payloads start with `ASZ` and a method byte. No JSON text can start with `A`, so
 * `deserialize` tells plain JSON from compressed data without being told, and files stay self-describing.
 */
const MAGIC = Buffer.from('ASZ', 'latin1');
const METHOD_BYTE = { gzip: 0x67, brotli: 0x62 } as const; // 'g', 'b'

// Brotli's default quality (11) is far too slow for a write path; 5 is close in size at many times the speed.
const BROTLI_OPTIONS = { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } };

/**
 * Most bytes a payload may decompress to (256 MiB) unless the caller sets another bound: a few KiB of
 * crafted gzip or brotli can expand to gigabytes, and decompressing without a bound would let one stored
 * value exhaust the process's memory.
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const brotliAsync = promisify(brotliCompress);
const unbrotliAsync = promisify(brotliDecompress);

/** Compresses bytes and adds the self-describing header. */
export function compress(bytes: Uint8Array, method: Compression): Uint8Array {
  if (method === 'none') return bytes;
  const body = method === 'gzip' ? gzipSync(bytes) : brotliCompressSync(bytes, BROTLI_OPTIONS);
  return frame(body, checkMethod(method));
}

/** Async `compress`, off the main thread for large payloads. */
export async function compressAsync(bytes: Uint8Array, method: Compression): Promise<Uint8Array> {
  if (method === 'none') return bytes;
  const body = method === 'gzip' ? await gzipAsync(bytes) : await brotliAsync(bytes, BROTLI_OPTIONS);
  return frame(body, checkMethod(method));
}

/**
 * Reverses `compress`; bytes without the header are returned as they are. A payload that would
 * decompress to more than `maxBytes` is `CORRUPT_STATE` (nothing beyond the bound is allocated).
 */
export function decompress(bytes: Uint8Array, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES): Uint8Array {
  const method = methodOf(bytes);
  if (method === 'none') return bytes;
  const body = bytes.subarray(MAGIC.length + 1);
  const options = { maxOutputLength: maxBytes };
  try {
    return method === 'gzip' ? gunzipSync(body, options) : brotliDecompressSync(body, options);
  } catch (error) {
    throw corrupt(method, error, maxBytes);
  }
}

/** Async `decompress`. */
export async function decompressAsync(
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Promise<Uint8Array> {
  const method = methodOf(bytes);
  if (method === 'none') return bytes;
  const body = bytes.subarray(MAGIC.length + 1);
  const options = { maxOutputLength: maxBytes };
  try {
    return method === 'gzip' ? await gunzipAsync(body, options) : await unbrotliAsync(body, options);
  } catch (error) {
    throw corrupt(method, error, maxBytes);
  }
}

/** Which compression a payload carries, read from its header. */
export function methodOf(bytes: Uint8Array): Compression {
  if (bytes.length <= MAGIC.length || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2])
    return 'none';
  const byte = bytes[MAGIC.length];
  if (byte === METHOD_BYTE.gzip) return 'gzip';
  if (byte === METHOD_BYTE.brotli) return 'brotli';
  throw new CorruptStateError(`unknown compression method byte ${String(byte)}`, { byte });
}

function checkMethod(method: string): number {
  if (method === 'gzip' || method === 'brotli') return METHOD_BYTE[method];
  throw new InvalidInputError(`unknown compression '${method}': use 'none', 'gzip' or 'brotli'`, {
    compression: method,
  });
}

function frame(body: Uint8Array, methodByte: number): Uint8Array {
  const out = Buffer.allocUnsafe(MAGIC.length + 1 + body.byteLength);
  MAGIC.copy(out, 0);
  out[MAGIC.length] = methodByte;
  out.set(body, MAGIC.length + 1);
  return out;
}

function corrupt(method: Compression, error: unknown, maxBytes: number): CorruptStateError {
  if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
    return new CorruptStateError(
      `${method} payload decompresses to more than ${maxBytes} bytes (the bound on decompressed values); it is not read`,
      { compression: method, maxDecompressedBytes: maxBytes, reason: 'decompressed-too-large' },
      { cause: error },
    );
  }
  return new CorruptStateError(
    `${method} payload cannot be decompressed: ${(error as Error).message}`,
    { compression: method },
    { cause: error },
  );
}
