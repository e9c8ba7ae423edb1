/**
 * The tagged wire form. A special value is encoded as `{ "$t": TAG, ... }`; every other object and array
 * is plain JSON. A plain object that itself has a `$t` key is wrapped as `{ "$t": "obj", "v": {...} }` so
 * that user data can never be mistaken for a tag.
 */

/** The property that marks a tagged value. */
export const TAG = '$t';

/** Tags of the built-in types. Stable: they are stored on disk. */
export const Tags = {
  undefined: 'undef',
  number: 'num',
  bigint: 'bigint',
  date: 'Date',
  map: 'Map',
  set: 'Set',
  bytes: 'bytes',
  buffer: 'Buffer',
  typedArray: 'TypedArray',
  regexp: 'RegExp',
  error: 'Error',
  url: 'URL',
  object: 'obj',
  class: 'class',
} as const;

/** Typed array constructors the codec stores by name (never resolved from arbitrary names). */
export const TYPED_ARRAYS = {
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;

/** Built-in Error subclasses restored by name; any other name becomes an Error with that `name`. */
export const ERROR_CLASSES = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
} as const;
