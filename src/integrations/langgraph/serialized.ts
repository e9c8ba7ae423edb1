import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { UnsupportedValueError } from '../../errors.ts';

/**
 * A value as LangGraph's serializer wrote it: its type tag and its bytes. JSON output is kept as text
 * (the drivers store text compactly; bytes would be tagged and base64-encoded by the codec, and a
 * structure kept as text is not walked by the codec on every read and write). A string, number, boolean
 * or null under the default serializer is kept as itself (`v`): as text it would be escaped and parsed
 * twice, once by the driver and once by the serializer, for nothing.
 */
export type Serialized =
  | {
      /** The serializer's type tag (`json`, `bytes`, ...). */
      t: string;
      /** The serialized form. */
      s: string | Uint8Array;
    }
  | {
      t: 'json';
      /** The value itself. */
      v: string | number | boolean | null;
    };

/** What `ValueSerializer.plain` answers for a value only LangGraph's serializer can read. */
export const NEEDS_SERDE: unique symbol = Symbol('needs the serializer');

/**
 * LangGraph's serializer as the saver and store use it. With LangGraph's default serializer
 * (`JsonPlusSerializer`), plain JSON data skips it both ways and gives the same text and the same value:
 * that serializer changes only `undefined`, class instances (Set, Map, Date, messages...) and objects with
 * an `lc` key, and its own path costs a replacer call per value, a UTF-8 encode the saver decodes again,
 * and an async walk of the parsed value (most of a put's and a read's CPU time for large channel values).
 */
export class ValueSerializer {
  /** LangGraph's serializer. */
  readonly serde: SerializerProtocol;
  readonly #isDefault: boolean;

  /** `isDefault`: `serde` is LangGraph's default serializer, not one the user passed. */
  constructor(serde: SerializerProtocol, isDefault: boolean) {
    this.serde = serde;
    this.#isDefault = isDefault;
  }

  /** Serializes `value`; a value the serializer refuses is `INVALID_INPUT` naming where it was going. */
  async dump(value: unknown, details: Record<string, unknown>): Promise<Serialized> {
    if (this.#isDefault) {
      if (isPrimitive(value)) return { t: 'json', v: value };
      if (isPlainJson(value, 0)) return { t: 'json', s: JSON.stringify(value) };
    }
    let type: string;
    let bytes: Uint8Array;
    try {
      [type, bytes] = await this.serde.dumpsTyped(value);
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
  load(value: Serialized): unknown {
    const plain = this.plain(value);
    if (plain !== NEEDS_SERDE || !('s' in value)) return plain;
    return this.serde.loadsTyped(value.t, value.s);
  }

  /**
   * The value written by `dump` when reading it needs no serializer call (so no promise to wait for);
   * NEEDS_SERDE when it does (then `load`).
   */
  plain(value: Serialized): unknown {
    if (!('s' in value)) return value.v;
    // Without an `lc` key nothing in the text is one of the default serializer's records (an `"lc"` inside
    // a string is escaped as `\"lc\"`, so it never matches here).
    if (this.#isDefault && value.t === 'json' && typeof value.s === 'string' && !value.s.includes('"lc"')) {
      return JSON.parse(value.s);
    }
    return NEEDS_SERDE;
  }
}

const decoder = new TextDecoder();

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}
// Deeper than this is left to the serializer (it also turns cycles into "[Circular]").
const MAX_PLAIN_DEPTH = 64;

// JSON text of `value` is the same with and without the default serializer's replacer: strings, finite
// numbers, booleans, null, arrays and plain objects of them, no `undefined`, no `lc` key.
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i += 1) if (!isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (key === 'lc' || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
