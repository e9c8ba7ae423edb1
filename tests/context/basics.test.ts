import { chmod, lstat, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ClosedError,
  Codec,
  InvalidInputError,
  PersistentContext,
  UnsupportedValueError,
} from '../../src/index.ts';
import { tempDirs } from './helpers.ts';

const newDir = tempDirs();

describe('PersistentContext basics', () => {
  it('opens a missing file as an empty, clean context and creates the directory', async () => {
    const path = join(await newDir(), 'nested', 'deeper', 'ctx.json');
    const ctx = await PersistentContext.create(path);
    expect(ctx.keys()).toEqual([]);
    expect(ctx.size).toBe(0);
    expect(ctx.dirty).toBe(false);
    expect(ctx.get('missing')).toBeUndefined();
    expect(ctx.get('missing', 7)).toBe(7);
    await ctx.save();
    const file = JSON.parse(await readFile(path, 'utf8'));
    expect(file).toMatchObject({ format: 'agentstate/context', version: 1, data: {} });
  });

  it('gets, sets, deletes, lists and tracks dirty state', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('a', 1).set('b', 'two');
    expect(ctx.dirty).toBe(true);
    expect(ctx.has('a')).toBe(true);
    expect(ctx.keys()).toEqual(['a', 'b']);
    expect(ctx.delete('a')).toBe(true);
    expect(ctx.delete('a')).toBe(false);
    expect(ctx.has('a')).toBe(false);
    await ctx.save();
    expect(ctx.dirty).toBe(false);
    ctx.clear();
    expect(ctx.size).toBe(0);
    expect(ctx.dirty).toBe(true);
  });

  it('types keys and values when given a shape', async () => {
    const ctx = await PersistentContext.create<{ step: number; notes: string[] }>(
      join(await newDir(), 'ctx.json'),
    );
    ctx.set('step', 1);
    const step: number = ctx.get('step', 0);
    const notes: string[] | undefined = ctx.get('notes');
    expect([step, notes]).toEqual([1, undefined]);
    // Compile-time only (checked by tsc, never run): wrong value types and unknown keys are refused.
    const misuse = (): void => {
      // @ts-expect-error: 'step' holds a number
      ctx.set('step', 'one');
      // @ts-expect-error: no such key in the shape
      ctx.get('stpe');
    };
    expect(typeof misuse).toBe('function');
  });

  it('does not rewrite the file when nothing changed', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('a', 1);
    await ctx.save();
    const before = await stat(path, { bigint: true });
    await ctx.save();
    await ctx.close();
    const after = await stat(path, { bigint: true });
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeNs).toBe(before.mtimeNs);
  });

  it('keeps the permissions of an existing file when it saves', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('token', 'secret-1');
    await ctx.save();
    await chmod(path, 0o600);
    ctx.set('token', 'secret-2');
    await ctx.save();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('opened through a symbolic link, saves to the target and keeps the link', async () => {
    const dir = await newDir();
    const target = join(dir, 'real.json');
    const link = join(dir, 'link.json');
    const direct = await PersistentContext.create(target);
    direct.set('a', 1);
    await direct.save();
    await symlink(target, link);
    const linked = await PersistentContext.create(link);
    expect(linked.path).toBe(target);
    linked.set('b', 2);
    await linked.save();
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await PersistentContext.create(target)).getAll()).toEqual({ a: 1, b: 2 });
    // A dangling link names the file to create.
    const later = join(dir, 'later.json');
    await symlink(later, join(dir, 'dangling.json'));
    const fresh = await PersistentContext.create(join(dir, 'dangling.json'));
    fresh.set('c', 3);
    await fresh.save();
    expect((await PersistentContext.create(later)).get('c')).toBe(3);
  });

  it('round-trips codec types through the file', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    const value = {
      when: new Date('2026-01-02T03:04:05.000Z'),
      map: new Map<unknown, unknown>([
        ['k', 1],
        [2, new Set(['x'])],
      ]),
      big: 12345678901234567890n,
      nothing: undefined,
      bytes: new Uint8Array([1, 2, 3]),
      nan: Number.NaN,
    };
    ctx.set('value', value);
    ctx.set('__proto__', { evil: true });
    ctx.set('12', 'integer-like key');
    await ctx.close();

    const again = await PersistentContext.create(path);
    expect(again.get('value')).toEqual(value);
    expect(again.get('__proto__')).toEqual({ evil: true });
    expect(Object.getPrototypeOf(again.getAll())).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).evil).toBeUndefined();
    expect(again.get('12')).toBe('integer-like key');
  });

  it('keeps the file human-readable JSON, one key per line', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('task', 'summarise');
    ctx.set('when', new Date(0));
    await ctx.save();
    const text = await readFile(path, 'utf8');
    expect(text).toContain('\n    "task":"summarise"');
    expect(text).toContain('"when":{"$t":"Date","v":"1970-01-01T00:00:00.000Z"}');
    expect(JSON.parse(text).sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stores a snapshot at set and hands out copies', async () => {
    const ctx = await PersistentContext.create(join(await newDir(), 'ctx.json'));
    const list = [1, 2];
    ctx.set('list', list);
    list.push(3);
    expect(ctx.get('list')).toEqual([1, 2]);
    (ctx.get('list') as number[]).push(99);
    expect(ctx.get('list')).toEqual([1, 2]);
    const all = ctx.getAll();
    (all.list as number[]).push(100);
    all.added = true;
    expect(ctx.get('list')).toEqual([1, 2]);
    expect(ctx.has('added')).toBe(false);
  });

  it('rejects a value the codec refuses at set time, with key and path, changing nothing', async () => {
    const ctx = await PersistentContext.create(join(await newDir(), 'ctx.json'));
    ctx.set('plan', { steps: [1] });
    await ctx.save();
    const cyclic: Record<string, unknown> = { name: 'x' };
    cyclic.self = cyclic;
    expect(() => ctx.set('plan', { steps: [1, () => 2] })).toThrow(UnsupportedValueError);
    try {
      ctx.set('plan', { steps: [1, () => 2] });
    } catch (error) {
      expect((error as UnsupportedValueError).details.path).toBe('$.plan.steps[1]');
      expect((error as Error).message).toContain('$.plan.steps[1]');
    }
    expect(() => ctx.set('loop', cyclic)).toThrow(/\$\.loop\.self/);
    expect(ctx.get('plan')).toEqual({ steps: [1] });
    expect(ctx.has('loop')).toBe(false);
    expect(ctx.dirty).toBe(false);
    expect(() => ctx.set(42 as unknown as string, 1)).toThrow(InvalidInputError);
  });

  it('refuses a value too large to become JSON text with INVALID_INPUT naming the key, changing nothing', async () => {
    const ctx = await PersistentContext.create(join(await newDir(), 'ctx.json'));
    ctx.set('huge', 'kept');
    await ctx.save();
    // Two references to one 300 MB string: its JSON text would pass the runtime's ~512 MB string limit.
    const part = 'x'.repeat(300_000_000);
    const error = (() => {
      try {
        ctx.set('huge', [part, part]);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UnsupportedValueError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', details: { key: 'huge', path: '$.huge' } });
    expect(ctx.get('huge')).toBe('kept');
    expect(ctx.dirty).toBe(false);
  });

  it('uses the codec given in options for registered classes', async () => {
    class Point {
      x: number;
      y: number;
      constructor(x: number, y: number) {
        this.x = x;
        this.y = y;
      }
    }
    const codec = new Codec().register('Point', {
      class: Point,
      encode: (p: Point) => [p.x, p.y],
      decode: ([x, y]: number[]) => new Point(x!, y!),
    });
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path, { codec });
    ctx.set('p', new Point(1, 2));
    await ctx.close();
    const again = await PersistentContext.create(path, { codec });
    expect(again.get('p')).toBeInstanceOf(Point);
    expect(again.get('p')).toEqual(new Point(1, 2));
    // Without the registration the file is intact but the class is unknown: reported, file untouched.
    await expect(PersistentContext.create(path)).rejects.toMatchObject({ code: 'UNKNOWN_TYPE' });
  });

  it.each(['gzip', 'brotli'] as const)(
    'compresses with %s and reads any compression back',
    async (compression) => {
      const path = join(await newDir(), 'ctx.bin');
      const ctx = await PersistentContext.create(path, { compression });
      ctx.set('text', 'hello '.repeat(1000));
      await ctx.close();
      const bytes = await readFile(path);
      expect(bytes.subarray(0, 3).toString('latin1')).toBe('ASZ');
      expect(bytes.length).toBeLessThan(1000);
      const plain = await PersistentContext.create(path);
      expect(plain.get('text')).toBe('hello '.repeat(1000));
      plain.set('more', 1);
      await plain.close();
      expect((await readFile(path, 'utf8')).startsWith('{')).toBe(true);
    },
  );

  it('fails with ClosedError after close, and close saves pending changes', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('a', 1);
    const closing = ctx.close();
    // A change made after close() was called could miss the final save: refused, not lost.
    expect(() => ctx.set('b', 2)).toThrow(ClosedError);
    await closing;
    await ctx.close();
    expect(ctx.closed).toBe(true);
    expect(() => ctx.get('a')).toThrow(ClosedError);
    expect(() => ctx.set('a', 2)).toThrow(ClosedError);
    await expect(ctx.save()).rejects.toBeInstanceOf(ClosedError);
    await expect(ctx.reload()).rejects.toBeInstanceOf(ClosedError);
    expect((await PersistentContext.create(path)).get('a')).toBe(1);
  });

  it('rejects bad options with the option named', async () => {
    const path = join(await newDir(), 'ctx.json');
    await expect(PersistentContext.create(path, { backups: -1 })).rejects.toThrow(/backups/);
    await expect(PersistentContext.create(path, { compression: 'zip' as unknown as 'gzip' })).rejects.toThrow(
      /compression/,
    );
    await expect(PersistentContext.create(path, { autosave: { debounceMs: Number.NaN } })).rejects.toThrow(
      /debounceMs/,
    );
    await expect(PersistentContext.create('')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(PersistentContext.create(await newDir())).rejects.toThrow(/is a directory/);
  });

  it('accepts a hand-edited file once its sha256 line is removed', async () => {
    const path = join(await newDir(), 'ctx.json');
    const ctx = await PersistentContext.create(path);
    ctx.set('limit', 10);
    await ctx.close();
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"limit":10', '"limit": 20').replace(/\s*"sha256": "[0-9a-f]+",/, ''));
    const edited = await PersistentContext.create(path);
    expect(edited.get('limit')).toBe(20);
  });
});
