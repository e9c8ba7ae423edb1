import { CorruptStateError, InvalidInputError, UnknownTypeError, UnsupportedValueError } from '../errors.ts';
import { MAX_DEPTH, tooDeepError } from './depth.ts';
import { type JsonObject, type JsonValue, setOwn } from './json.ts';
import { indexPath, propertyPath } from './path.ts';
import { ERROR_CLASSES, TAG, Tags, TYPED_ARRAYS } from './tags.ts';

/** How one user class is stored: found by `class` (exact constructor) or by `test`, rebuilt by `decode`. */
export interface ClassCodec<T = unknown, D = unknown> {
  /** Instances whose constructor is exactly this class use this codec. */
  class?: abstract new (
    ...args: never[]
  ) => T;
  /** Alternative to `class`: any value for which this returns true uses this codec. */
  test?: (value: unknown) => boolean;
  /** Turns an instance into data the codec can store (plain data, or other encodable values). */
  encode(value: T): D;
  /** Rebuilds an instance from what `encode` returned. */
  decode(data: D): T;
}

interface Registered {
  name: string;
  def: ClassCodec<unknown, unknown>;
}

type TypedArrayName = keyof typeof TYPED_ARRAYS;
type ErrorName = keyof typeof ERROR_CLASSES;

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
  '-0': -0,
};

/**
 * Converts values to a JSON-safe tagged form and back. A registry of user classes lives in each
 * instance, so a codec can be passed around instead of relying on a global; `codec` is the default one.
 * Decoding only ever instantiates built-in types and classes registered here by explicit name.
 */
export class Codec {
  readonly #byName = new Map<string, Registered>();
  readonly #byClass = new Map<unknown, Registered>();
  readonly #byTest: Registered[] = [];

  /** Registers a user class under a stable name that is written into stored data. */
  register<T, D>(name: string, def: ClassCodec<T, D>): this {
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidInputError('codec.register needs a non-empty type name', { name });
    }
    if (!def.class && !def.test) {
      throw new InvalidInputError(
        `codec.register('${name}') needs a 'class' or a 'test' to recognise instances`,
        { name },
      );
    }
    if (this.#byName.has(name)) {
      throw new InvalidInputError(`codec type '${name}' is already registered`, { name });
    }
    const entry: Registered = { name, def: def as ClassCodec<unknown, unknown> };
    this.#byName.set(name, entry);
    if (def.class) this.#byClass.set(def.class, entry);
    else this.#byTest.push(entry);
    return this;
  }

  /** Removes a registered type; returns whether it was registered. */
  unregister(name: string): boolean {
    const entry = this.#byName.get(name);
    if (!entry) return false;
    this.#byName.delete(name);
    if (entry.def.class) this.#byClass.delete(entry.def.class);
    const i = this.#byTest.indexOf(entry);
    if (i >= 0) this.#byTest.splice(i, 1);
    return true;
  }

  /** Whether a type name is registered. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Encodes a value into its JSON-safe tagged form. Throws `UnsupportedValueError` naming the path. */
  encode(value: unknown, rootPath = '$'): JsonValue {
    return this.#encode(value, rootPath, new Set());
  }

  /** Rebuilds a value from its tagged form. Throws `UnknownTypeError` on an unregistered tag. */
  decode(json: unknown, rootPath = '$'): unknown {
    return this.#decode(json, rootPath);
  }

  /** Throws the same error `encode` would, without keeping the result. */
  assertEncodable(value: unknown, rootPath = '$'): void {
    this.#encode(value, rootPath, new Set());
  }

  /** `JSON.stringify(encode(value))`. */
  stringify(value: unknown, space?: number): string {
    return JSON.stringify(this.encode(value), null, space);
  }

  /** `decode(JSON.parse(text))`; malformed JSON is a `CorruptStateError`. */
  parse(text: string): unknown {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new CorruptStateError(
        `stored text is not valid JSON: ${(error as Error).message}`,
        {},
        { cause: error },
      );
    }
    return this.decode(json);
  }

  #encode(value: unknown, path: string, ancestors: Set<object>): JsonValue {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value)) return Object.is(value, -0) ? { [TAG]: Tags.number, v: '-0' } : value;
        return { [TAG]: Tags.number, v: String(value) };
      case 'undefined':
        return { [TAG]: Tags.undefined };
      case 'bigint':
        return { [TAG]: Tags.bigint, v: value.toString() };
      case 'function':
        throw new UnsupportedValueError(`cannot store a function at ${path}`, { path });
      case 'symbol':
        throw new UnsupportedValueError(`cannot store a symbol at ${path}`, { path });
    }
    if (value === null) return null;
    const object = value as object;
    if (ancestors.has(object)) {
      throw new UnsupportedValueError(`cannot store a cycle: ${path} refers back to one of its parents`, {
        path,
      });
    }
    // The ancestors are the containers above this one: refusing here bounds the recursion of encode, and
    // of every later decode and JSON.stringify of what was stored.
    if (ancestors.size >= MAX_DEPTH) throw tooDeepError(path);
    ancestors.add(object);
    try {
      return this.#encodeObject(object, path, ancestors);
    } finally {
      ancestors.delete(object);
    }
  }

  #encodeObject(value: object, path: string, ancestors: Set<object>): JsonValue {
    if (Array.isArray(value)) {
      const out: JsonValue[] = new Array(value.length);
      // An index loop (not map/forEach) so holes are visited and stored as undefined.
      for (let i = 0; i < value.length; i++) out[i] = this.#encode(value[i], indexPath(path, i), ancestors);
      return out;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null)
      return this.#encodePlain(value as Record<string, unknown>, path, ancestors);

    const registered =
      this.#byClass.get((value as { constructor?: unknown }).constructor) ??
      this.#byTest.find((r) => r.def.test?.(value));
    if (registered) {
      const data = registered.def.encode(value);
      return { [TAG]: Tags.class, n: registered.name, v: this.#encode(data, path, ancestors) };
    }
    if (value instanceof Date) {
      const time = value.getTime();
      return { [TAG]: Tags.date, v: Number.isNaN(time) ? null : value.toISOString() };
    }
    if (value instanceof Map) {
      const entries: JsonValue[] = [];
      let i = 0;
      for (const [k, v] of value) {
        const entryPath = `${path}.get(${typeof k === 'string' || typeof k === 'number' ? JSON.stringify(k) : `#${i}`})`;
        entries.push([
          this.#encode(k, `${entryPath}<key>`, ancestors),
          this.#encode(v, entryPath, ancestors),
        ]);
        i++;
      }
      return { [TAG]: Tags.map, v: entries };
    }
    if (value instanceof Set) {
      const items: JsonValue[] = [];
      let i = 0;
      for (const item of value) items.push(this.#encode(item, `${path}<set>[${i++}]`, ancestors));
      return { [TAG]: Tags.set, v: items };
    }
    if (ArrayBuffer.isView(value)) return encodeBinary(value, path);
    if (value instanceof RegExp) return { [TAG]: Tags.regexp, v: value.source, f: value.flags };
    if (value instanceof URL) return { [TAG]: Tags.url, v: value.href };
    if (value instanceof Error) return this.#encodeError(value, path, ancestors);
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
    throw new UnsupportedValueError(
      `cannot store an instance of ${name} at ${path}: register it with codec.register('${name}', { class: ${name}, encode, decode })`,
      { path, className: name },
    );
  }

  #encodePlain(value: Record<string, unknown>, path: string, ancestors: Set<object>): JsonObject {
    const out: JsonObject = {};
    let hasTagKey = false;
    for (const key of Object.keys(value)) {
      if (key === TAG) hasTagKey = true;
      setOwn(out, key, this.#encode(value[key], propertyPath(path, key), ancestors));
    }
    return hasTagKey ? { [TAG]: Tags.object, v: out } : out;
  }

  #encodeError(error: Error, path: string, ancestors: Set<object>): JsonObject {
    const out: JsonObject = { [TAG]: Tags.error, name: error.name, message: error.message };
    if (error.stack !== undefined) out.stack = error.stack;
    if (error.cause !== undefined)
      out.cause = this.#encode(error.cause, propertyPath(path, 'cause'), ancestors);
    // Own enumerable properties such as `code` or `status` are part of what callers rely on.
    const props: Record<string, unknown> = {};
    let any = false;
    for (const key of Object.keys(error)) {
      if (key === 'cause') continue;
      setOwn(props, key, (error as unknown as Record<string, unknown>)[key]);
      any = true;
    }
    if (any) out.props = this.#encodePlain(props, path, ancestors);
    return out;
  }

  #decode(json: unknown, path: string): unknown {
    if (json === null || typeof json !== 'object') return json;
    if (Array.isArray(json)) {
      const out: unknown[] = new Array(json.length);
      for (let i = 0; i < json.length; i++) out[i] = this.#decode(json[i], indexPath(path, i));
      return out;
    }
    const object = json as Record<string, unknown>;
    if (!Object.hasOwn(object, TAG)) return this.#decodePlain(object, path);
    return this.#decodeTagged(object, path);
  }

  #decodePlain(object: Record<string, unknown>, path: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(object))
      setOwn(out, key, this.#decode(object[key], propertyPath(path, key)));
    return out;
  }

  #decodeTagged(object: Record<string, unknown>, path: string): unknown {
    const tag = object[TAG];
    const v = object.v;
    switch (tag) {
      case Tags.undefined:
        return undefined;
      case Tags.number:
        if (typeof v === 'string' && Object.hasOwn(NON_FINITE, v)) return NON_FINITE[v];
        break;
      case Tags.bigint:
        if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
        break;
      case Tags.date:
        if (v === null) return new Date(Number.NaN);
        if (typeof v === 'string') return new Date(v);
        break;
      case Tags.map:
        if (Array.isArray(v)) {
          return new Map(
            v.map((entry, i) => {
              if (!Array.isArray(entry) || entry.length !== 2)
                throw malformed(String(tag), `${path}<map>[${i}]`);
              return [
                this.#decode(entry[0], `${path}<map>[${i}]<key>`),
                this.#decode(entry[1], `${path}<map>[${i}]`),
              ];
            }),
          );
        }
        break;
      case Tags.set:
        if (Array.isArray(v)) return new Set(v.map((item, i) => this.#decode(item, `${path}<set>[${i}]`)));
        break;
      case Tags.bytes:
        if (typeof v === 'string') return new Uint8Array(Buffer.from(v, 'base64'));
        break;
      case Tags.buffer:
        if (typeof v === 'string') return Buffer.from(v, 'base64');
        break;
      case Tags.typedArray:
        return decodeTypedArray(object, path);
      case Tags.regexp:
        if (typeof v === 'string' && typeof object.f === 'string') return new RegExp(v, object.f);
        break;
      case Tags.url:
        if (typeof v === 'string') return new URL(v);
        break;
      case Tags.error:
        return this.#decodeError(object, path);
      case Tags.object:
        if (v !== null && typeof v === 'object' && !Array.isArray(v))
          return this.#decodePlain(v as Record<string, unknown>, path);
        break;
      case Tags.class: {
        const name = object.n;
        const entry = typeof name === 'string' ? this.#byName.get(name) : undefined;
        if (!entry) {
          throw new UnknownTypeError(
            `stored data at ${path} is of type '${String(name)}', which is not registered: call codec.register('${String(name)}', ...) before decoding`,
            { path, type: name },
          );
        }
        return entry.def.decode(this.#decode(v, path));
      }
      default:
        throw new UnknownTypeError(`unknown codec tag '${String(tag)}' at ${path}`, { path, tag });
    }
    throw malformed(String(tag), path);
  }

  #decodeError(object: Record<string, unknown>, path: string): Error {
    const name = typeof object.name === 'string' ? object.name : 'Error';
    const message = typeof object.message === 'string' ? object.message : '';
    const Ctor = Object.hasOwn(ERROR_CLASSES, name) ? ERROR_CLASSES[name as ErrorName] : Error;
    const options = Object.hasOwn(object, 'cause')
      ? { cause: this.#decode(object.cause, propertyPath(path, 'cause')) }
      : undefined;
    const error = new Ctor(message, options);
    if (error.name !== name) error.name = name;
    if (typeof object.stack === 'string') error.stack = object.stack;
    else delete error.stack;
    if (object.props !== null && typeof object.props === 'object') {
      const props = this.#decodePlain(object.props as Record<string, unknown>, path);
      for (const key of Object.keys(props))
        setOwn(error as unknown as Record<string, unknown>, key, props[key]);
    }
    return error;
  }
}

function malformed(tag: string, path: string): CorruptStateError {
  return new CorruptStateError(`malformed '${tag}' value at ${path}`, { path, tag });
}

function encodeBinary(view: ArrayBufferView, path: string): JsonObject {
  const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  if (Buffer.isBuffer(view)) return { [TAG]: Tags.buffer, v: bytes.toString('base64') };
  const name = view.constructor.name;
  if (name === 'Uint8Array') return { [TAG]: Tags.bytes, v: bytes.toString('base64') };
  if (Object.hasOwn(TYPED_ARRAYS, name))
    return { [TAG]: Tags.typedArray, k: name, v: bytes.toString('base64') };
  throw new UnsupportedValueError(`cannot store a ${name} at ${path}`, { path, className: name });
}

function decodeTypedArray(object: Record<string, unknown>, path: string): ArrayBufferView {
  const kind = object.k;
  if (typeof kind !== 'string' || !Object.hasOwn(TYPED_ARRAYS, kind) || typeof object.v !== 'string') {
    throw malformed(Tags.typedArray, path);
  }
  const Ctor = TYPED_ARRAYS[kind as TypedArrayName];
  const bytes = Buffer.from(object.v, 'base64');
  // Copy into a fresh, aligned buffer: Buffer.from may return a slice of a shared pool at any offset.
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return new Ctor(copy);
}
