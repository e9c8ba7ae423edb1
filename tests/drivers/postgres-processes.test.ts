/**
 * The PostgreSQL driver across OS processes: change feeds, compare-and-set and durability must hold when
 * the other writer is another process, which is how servers share one database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ChangeEvent, createPostgresStore, type DocumentStore } from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();
const CHILD = fileURLToPath(new URL('./fixtures/postgres-child.ts', import.meta.url));

/** Starts the child fixture; its stdout lines are collected in `lines`. */
function startChild(schema: string, mode: string, count?: number): { child: ChildProcess; lines: string[] } {
  const args = [CHILD, POSTGRES_URL, schema, mode, ...(count === undefined ? [] : [String(count)])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  return { child, lines };
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe.skipIf(!pgOk)('postgres driver across processes', () => {
  let schema: string;
  let store: DocumentStore;

  beforeEach(() => {
    schema = uniqueName('as_proc');
    store = createPostgresStore({ connectionString: POSTGRES_URL, schema });
  });
  afterEach(async () => {
    await store.close();
    await dropSchema(schema);
  });

  it('watch sees a write made by another process', async () => {
    const events: ChangeEvent[] = [];
    await store.watch('agents', (event) => events.push(event));
    const { child } = startChild(schema, 'put');
    expect(await exitCode(child)).toBe(0);
    await eventually(() => events.length > 0);
    expect(events).toEqual([{ type: 'put', namespace: 'agents', id: 'from-child', revision: 1 }]);
    expect((await store.get<{ pid: number }>('agents', 'from-child'))?.value.pid).toBe(child.pid);
  });

  it('loses no update when two processes increment one document with compare-and-set', async () => {
    await store.put('race', 'counter', 0);
    const perProcess = 40;
    const children = [
      startChild(schema, 'increment', perProcess),
      startChild(schema, 'increment', perProcess),
    ];
    const codes = await Promise.all(children.map(({ child }) => exitCode(child)));
    expect(codes).toEqual([0, 0]);
    expect(await store.get('race', 'counter')).toMatchObject({
      value: 2 * perProcess,
      revision: 2 * perProcess + 1,
    });
  });

  it('keeps every acknowledged write when the writing process is killed with SIGKILL', async () => {
    const { child, lines } = startChild(schema, 'stream');
    await eventually(() => lines.length >= 30, 20_000);
    child.kill('SIGKILL');
    expect(await exitCode(child)).toBeNull();
    const acknowledged = [...lines];
    // A fresh store (new pool, new connections) reads what the killed process was told was stored.
    const fresh = createPostgresStore({ connectionString: POSTGRES_URL, schema });
    try {
      for (const id of acknowledged) expect((await fresh.get('stream', id))?.id, id).toBe(id);
    } finally {
      await fresh.close();
    }
  });
});
