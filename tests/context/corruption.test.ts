import { constants } from 'node:buffer';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { backupPath } from '../../src/context/backups.ts';
import { CorruptStateError, PersistentContext, type QuarantineEvent } from '../../src/index.ts';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';
import { tempDirs } from './helpers.ts';

const newDir = tempDirs();

async function savedFile(values: Record<string, unknown>): Promise<string> {
  const path = join(await newDir(), 'ctx.json');
  const ctx = await PersistentContext.create(path);
  for (const [key, value] of Object.entries(values)) ctx.set(key, value);
  await ctx.close();
  return path;
}

const damages: [string, (text: string) => string][] = [
  ['truncated', (text) => text.slice(0, Math.floor(text.length / 2))],
  ['not JSON', () => 'garbage {'],
  ['a value edited behind the checksum', (text) => text.replace('"important"', '"tampered"')],
  ['not an envelope', () => '{"answer": 42}'],
  [
    'a malformed tagged value',
    (text) => text.replace(/"sha256": "[0-9a-f]+",/, '').replace('"v":"5"', '"v":"x5"'),
  ],
];

describe('PersistentContext with a corrupt file', () => {
  it.each(damages)(
    'throws CorruptStateError with the path for %s, leaving the file untouched',
    async (_, damage) => {
      const path = await savedFile({ note: 'important', big: 5n });
      const bad = damage(await readFile(path, 'utf8'));
      await writeFile(path, bad);
      const error = await PersistentContext.create(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptStateError);
      expect((error as CorruptStateError).code).toBe('CORRUPT_STATE');
      expect((error as CorruptStateError).details.path).toBe(path);
      expect((error as Error).message).toContain(path);
      expect(await readFile(path, 'utf8')).toBe(bad);
    },
  );

  it('quarantines on request: moves the file aside, reports it, and starts empty', async () => {
    const path = await savedFile({ note: 'important' });
    await writeFile(path, 'torn{');
    const events: QuarantineEvent[] = [];
    const ctx = await PersistentContext.create(path, {
      onCorrupt: 'quarantine',
      onQuarantine: (event) => events.push(event),
    });
    expect(ctx.size).toBe(0);
    expect(ctx.quarantinedPath).toMatch(/ctx\.json\.corrupt-/);
    expect(events).toHaveLength(1);
    expect(events[0]!.path).toBe(path);
    expect(events[0]!.quarantinedPath).toBe(ctx.quarantinedPath);
    expect(events[0]!.error).toBeInstanceOf(CorruptStateError);
    expect(await readFile(ctx.quarantinedPath!, 'utf8')).toBe('torn{');
    ctx.set('fresh', true);
    await ctx.close();
    expect((await PersistentContext.create(path)).get('fresh')).toBe(true);
    expect(await readFile(ctx.quarantinedPath!, 'utf8')).toBe('torn{');
  });

  it('without onQuarantine, reports the quarantined file through onError', async () => {
    const path = await savedFile({ note: 'important' });
    await writeFile(path, 'torn{');
    const reports: Array<[unknown, BackgroundErrorContext]> = [];
    const ctx = await PersistentContext.create(path, {
      onCorrupt: 'quarantine',
      onError: (error, context) => reports.push([error, context]),
    });
    expect(reports).toHaveLength(1);
    expect(reports[0]![0]).toBeInstanceOf(CorruptStateError);
    expect(reports[0]![1]).toEqual({
      source: 'PersistentContext quarantine',
      details: { path, quarantinedPath: ctx.quarantinedPath },
    });
    await ctx.close();
  });

  it('never quarantines a file from a newer format version', async () => {
    const path = await savedFile({ a: 1 });
    const newer = (await readFile(path, 'utf8')).replace('"version": 1', '"version": 2');
    await writeFile(path, newer);
    await expect(PersistentContext.create(path, { onCorrupt: 'quarantine' })).rejects.toThrow(/version 2/);
    expect(await readFile(path, 'utf8')).toBe(newer);
  });

  it('refuses to save over a file that became corrupt, and keeps the changes unsaved', async () => {
    const path = await savedFile({ a: 1 });
    const ctx = await PersistentContext.create(path);
    await writeFile(path, 'broken');
    ctx.set('b', 2);
    await expect(ctx.save()).rejects.toBeInstanceOf(CorruptStateError);
    expect(await readFile(path, 'utf8')).toBe('broken');
    expect(ctx.dirty).toBe(true);
  });

  it('detects a hand edit made in place while the context is open, instead of overwriting it', async () => {
    const path = await savedFile({ limit: 10 });
    const ctx = await PersistentContext.create(path);
    // The checksum line is kept: only the data changed, as an editor saving in place would do.
    const edited = (await readFile(path, 'utf8')).replace('"limit":10', '"limit":200');
    await writeFile(path, edited);
    ctx.set('other', 1);
    await expect(ctx.save()).rejects.toMatchObject({ code: 'CORRUPT_STATE', details: { path } });
    expect(await readFile(path, 'utf8')).toBe(edited);
  });

  it('emits a process warning for a quarantine when no handler is given', async () => {
    const path = await savedFile({ a: 1 });
    await writeFile(path, '{');
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const ctx = await PersistentContext.create(path, { onCorrupt: 'quarantine' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.message).join('\n')).toContain(ctx.quarantinedPath!);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('on reload of a corrupt file with quarantine, keeps the data in memory and writes it back', async () => {
    const path = await savedFile({ a: 1 });
    const ctx = await PersistentContext.create(path, { onCorrupt: 'quarantine', onQuarantine: () => {} });
    await writeFile(path, 'broken');
    await ctx.reload();
    expect(ctx.quarantinedPath).toBeDefined();
    expect(ctx.get('a')).toBe(1);
    expect(ctx.dirty).toBe(true);
    await ctx.save();
    expect((await PersistentContext.create(path)).get('a')).toBe(1);
  });

  it('after a quarantine on reload, writes its data over a file another writer created meanwhile', async () => {
    const path = await savedFile({ a: 1 });
    const ctx = await PersistentContext.create(path, { onCorrupt: 'quarantine', onQuarantine: () => {} });
    await writeFile(path, 'broken');
    await ctx.reload();
    const other = await PersistentContext.create(path);
    other.set('b', 2);
    await other.save();
    await ctx.save();
    expect((await PersistentContext.create(path)).getAll()).toEqual({ a: 1, b: 2 });
  });

  it('refuses to save a context too large to be read back, keeping the file and the changes', async () => {
    const path = await savedFile({ a: 1 });
    const before = await readFile(path, 'utf8');
    const ctx = await PersistentContext.create(path, { compression: 'gzip' });
    // Each value alone is fine; together their text passes the runtime's ~512 MB string limit.
    const half = 'x'.repeat(270_000_000);
    ctx.set('first', half).set('second', half);
    const error = await ctx.save().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', details: { path } });
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(ctx.dirty).toBe(true);
  }, 60_000);

  it('never quarantines a file too large to read as text, and says so', async () => {
    const path = join(await newDir(), 'ctx.json');
    // The codec's gzip header ('ASZ' + 'g') over more text than a string can hold.
    const text = Buffer.alloc(constants.MAX_STRING_LENGTH + 1, 'x');
    const file = Buffer.concat([Buffer.from('ASZg', 'latin1'), gzipSync(text, { level: 1 })]);
    await writeFile(path, file);
    const error = await PersistentContext.create(path, { onCorrupt: 'quarantine' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CORRUPT_STATE', details: { path, reason: 'too-large' } });
    expect((await readFile(path)).equals(file)).toBe(true);
  }, 60_000);

  it('keeps the last n versions as backups', async () => {
    const dir = await newDir();
    const path = join(dir, 'ctx.json');
    const ctx = await PersistentContext.create(path, { backups: 2 });
    for (let version = 1; version <= 4; version++) {
      ctx.set('version', version);
      await ctx.save();
    }
    const versionIn = async (file: string): Promise<unknown> =>
      (await PersistentContext.create(file)).get('version');
    expect(await versionIn(path)).toBe(4);
    expect(await versionIn(backupPath(path, 1))).toBe(3);
    expect(await versionIn(backupPath(path, 2))).toBe(2);
    expect((await readdir(dir)).filter((f) => f.includes('.bak.')).sort()).toEqual([
      'ctx.json.bak.1',
      'ctx.json.bak.2',
    ]);
  });
});
