import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/codec/checksum.ts';
import { methodOf } from '../../src/codec/compression.ts';
import {
  Codec,
  CorruptStateError,
  codec,
  decode,
  deserialize,
  encode,
  serialize,
  UnknownTypeError,
  UnsupportedValueError,
} from '../../src/index.ts';

const roundTrip = (value: unknown, c: Codec = codec) => c.decode(JSON.parse(JSON.stringify(c.encode(value))));

class Invoice {
  readonly id: string;
  readonly total: bigint;
  constructor(id: string, total: bigint) {
    this.id = id;
    this.total = total;
  }
}

describe('codec round trip', () => {
  it.each([
    ['plain JSON', { a: 1, b: 'x', c: [true, null, { d: [] }] }],
    ['Date', new Date('2026-01-02T03:04:05.678Z')],
    [
      'Map with object keys',
      new Map<unknown, unknown>([
        ['a', 1],
        [{ k: 1 }, new Set([1, 2])],
      ]),
    ],
    ['Set', new Set(['a', 1, null])],
    ['BigInt', 12345678901234567890n],
    ['negative BigInt', -5n],
    ['Uint8Array', new Uint8Array([0, 1, 255])],
    ['Float64Array', new Float64Array([1.5, -2])],
    ['undefined in object', { a: undefined, b: 1 }],
    ['undefined in array', [undefined, 1, undefined]],
    ['NaN and infinities', [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]],
    ['negative zero', -0],
    ['RegExp', /ab+c/gi],
    ['URL', new URL('https://example.com/a?b=c#d')],
    ['object with $t key', { $t: 'Date', v: 'not a date' }],
    ['nested', { deep: [{ when: new Date(0), tags: new Set(['x']) }] }],
  ])('%s', (_name, value) => {
    expect(roundTrip(value)).toStrictEqual(value);
  });

  it('keeps Buffer a Buffer and Uint8Array a Uint8Array', () => {
    expect(Buffer.isBuffer(roundTrip(Buffer.from('hi')))).toBe(true);
    const bytes = roundTrip(new Uint8Array([1, 2]));
    expect(Buffer.isBuffer(bytes)).toBe(false);
    expect(bytes).toBeInstanceOf(Uint8Array);
  });

  it('keeps shared (non-cyclic) references as copies', () => {
    const shared = { x: 1 };
    expect(roundTrip({ a: shared, b: shared })).toStrictEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it('round-trips errors with name, message, stack, cause and own props', () => {
    const cause = new RangeError('inner');
    const error = Object.assign(new TypeError('outer', { cause }), { code: 'E_X' });
    const back = roundTrip(error) as TypeError & { code: string };
    expect(back).toBeInstanceOf(TypeError);
    expect(back.message).toBe('outer');
    expect(back.stack).toBe(error.stack);
    expect(back.code).toBe('E_X');
    expect(back.cause).toBeInstanceOf(RangeError);
    const custom = new Error('x');
    custom.name = 'MyError';
    expect((roundTrip(custom) as Error).name).toBe('MyError');
  });

  it('keeps __proto__, constructor and prototype keys as plain data', () => {
    const json = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"bad":1}},"prototype":2}';
    const value = codec.parse(json) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(JSON.stringify(encode(value))).toBe(json);
    const back = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: true });
  });
});

describe('registered classes', () => {
  it('round-trips a class registered by name on its own registry', () => {
    const registry = new Codec().register('Invoice', {
      class: Invoice,
      encode: (v: Invoice) => ({ id: v.id, total: v.total }),
      decode: (d: { id: string; total: bigint }) => new Invoice(d.id, d.total),
    });
    const back = roundTrip({ inv: new Invoice('i1', 10n) }, registry) as { inv: Invoice };
    expect(back.inv).toBeInstanceOf(Invoice);
    expect(back.inv.total).toBe(10n);
    expect(() => codec.encode(new Invoice('x', 1n))).toThrow(UnsupportedValueError);
  });

  it('refuses an unknown tag or class name with the tag, never instantiating anything', () => {
    expect(() => decode({ $t: 'class', n: 'child_process', v: {} })).toThrow(UnknownTypeError);
    expect(() => decode({ a: [{ $t: 'Eval', v: 'x' }] })).toThrow(/unknown codec tag 'Eval' at \$\.a\[0\]/);
  });
});

describe('refused values name the path', () => {
  it('refuses functions, symbols and cycles', () => {
    expect(() => encode({ a: { b: [0, 0, () => 1] } })).toThrow(/\$\.a\.b\[2\]/);
    expect(() => encode({ s: Symbol('x') })).toThrow(UnsupportedValueError);
    const cyclic: Record<string, unknown> = { agents: [{}, {}, {}, { memory: {} }] };
    ((cyclic.agents as Record<string, unknown>[])[3]!.memory as Record<string, unknown>).self = cyclic;
    try {
      encode(cyclic);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UnsupportedValueError);
      expect((error as UnsupportedValueError).code).toBe('INVALID_INPUT');
      expect((error as UnsupportedValueError).details.path).toBe('$.agents[3].memory.self');
    }
  });

  it('reports malformed tagged data as corrupt', () => {
    expect(() => decode({ $t: 'Date', v: 5 })).toThrow(CorruptStateError);
    expect(() => codec.parse('{not json')).toThrow(CorruptStateError);
  });
});

describe('serialize', () => {
  const value = { text: 'hello '.repeat(1000), when: new Date(1), n: 5n };
  it.each(['none', 'gzip', 'brotli'] as const)('round-trips with %s', (compression) => {
    const bytes = serialize(value, { compression });
    expect(methodOf(bytes)).toBe(compression);
    expect(deserialize(bytes)).toStrictEqual(value);
    if (compression !== 'none') expect(bytes.length).toBeLessThan(serialize(value).length / 10);
  });

  it('reports damaged compressed data as corrupt', () => {
    const bytes = serialize(value, { compression: 'gzip' });
    expect(() => deserialize(bytes.subarray(0, 20))).toThrow(CorruptStateError);
  });

  it('computes SHA-256 checksums', () => {
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256(new Uint8Array([97, 98, 99]))).toBe(sha256('abc'));
  });
});
