import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { UnsupportedValueError } from '../../errors.ts';

/**
 * A value as LangGraph's serializer wrote it: its type tag and its bytes. JSON output is kept as text
 * (the drivers store text compactly; bytes would be tagged and base64-encoded by the codec).
 */
export interface Serialized {
  /** The serializer's type tag (`json`, `bytes`, ...). */
  t: string;
  /** The serialized form. */
  s: string | Uint8Array;
}

const decoder = new TextDecoder();

/** Serializes `value` with `serde`; a value it refuses is `INVALID_INPUT` naming where it was going. */
export async function dump(
  serde: SerializerProtocol,
  value: unknown,
  details: Record<string, unknown>,
): Promise<Serialized> {
  let type: string;
  let bytes: Uint8Array;
  try {
    [type, bytes] = await serde.dumpsTyped(value);
  } catch (error) {
    throw new UnsupportedValueError(
      `LangGraph's serializer refused a value (${(error as Error).message}); nothing was stored`,
      details,
      { cause: error },
    );
  }
  return { t: type, s: type === 'json' ? decoder.decode(bytes) : bytes };
}

/** Reads back a value written by `dump`. */
export function load(serde: SerializerProtocol, value: Serialized): Promise<unknown> {
  return serde.loadsTyped(value.t, value.s);
}
