import { MemorySaver } from '@langchain/langgraph-checkpoint';
import { describe, expect, it } from 'vitest';
import { ValueSerializer } from '../../src/integrations/langgraph/serialized.ts';

// LangGraph's default serializer, as every saver gets it.
const serde = new MemorySaver().serde;

describe('ValueSerializer with the default serializer', () => {
  const fast = new ValueSerializer(serde, true);
  const plain = new ValueSerializer(serde, false);

  it('writes the same JSON text as the serializer for plain data, and primitives as themselves', async () => {
    const value = { a: [1, 'two', null, true, { b: 2.5 }], c: 'x"lc"y', d: {} };
    const viaSerde = await plain.dump(value, {});
    expect(await fast.dump(value, {})).toEqual(viaSerde);
    expect(await fast.dump('text', {})).toEqual({ t: 'json', v: 'text' });
    expect(await fast.dump(null, {})).toEqual({ t: 'json', v: null });
    expect(await plain.dump('text', {})).toEqual({ t: 'json', s: '"text"' });
  });

  it('leaves undefined, class instances, non-finite numbers and lc records to the serializer', async () => {
    for (const value of [
      { a: undefined },
      new Set([1]),
      { m: new Map([[1, 2]]) },
      { d: new Date(0) },
      Number.NaN,
      { lc: 2, type: 'undefined' },
    ]) {
      const written = await fast.dump(value, {});
      expect(written).toEqual(await plain.dump(value, {}));
      expect(await fast.load(written)).toEqual(await plain.load(written));
    }
  });

  it('reads back what either path wrote, and records of earlier releases', async () => {
    const value = { messages: [{ role: 'user', content: 'hi' }], n: 3 };
    expect(await fast.load(await fast.dump(value, {}))).toEqual(value);
    expect(await fast.load({ t: 'json', s: JSON.stringify(value) })).toEqual(value);
    expect(await plain.load(await fast.dump('s', {}))).toBe('s');
  });

  it('answers a value the serializer refuses with a coded error naming where it was going', async () => {
    const failing = new ValueSerializer(
      {
        dumpsTyped: async () => {
          throw new Error('no');
        },
        loadsTyped: async () => undefined,
      },
      false,
    );
    await expect(failing.dump(1, { channel: 'c' })).rejects.toMatchObject({ details: { channel: 'c' } });
  });
});
