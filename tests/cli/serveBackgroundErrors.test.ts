/**
 * `agentstate serve` opens its stores before the Fastify app exists; their background failures (health
 * checks, sweeps, feeds) must still reach the server's log once it does, like everything else the server
 * runs. The stores' constructors are wrapped to record the `onError` they are given, and the server's
 * `logBackgroundErrors` to record what it logs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { BackgroundErrorHandler } from '../../src/index.ts';

const seen = vi.hoisted(() => ({
  handlers: new Map<string, BackgroundErrorHandler | undefined>(),
  logged: [] as Array<{ error: unknown; source: string }>,
}));

vi.mock('../../src/rollouts/index.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/rollouts/index.ts')>();
  class RecordingSqliteRolloutStore extends original.SqliteRolloutStore {
    constructor(options: ConstructorParameters<typeof original.SqliteRolloutStore>[0]) {
      super(options);
      seen.handlers.set('rollouts', options?.onError);
    }
  }
  return { ...original, SqliteRolloutStore: RecordingSqliteRolloutStore };
});

vi.mock('../../src/drivers/index.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/drivers/index.ts')>();
  return {
    ...original,
    createSqliteStore: (options: Parameters<typeof original.createSqliteStore>[0]) => {
      seen.handlers.set('documents', options?.onError);
      return original.createSqliteStore(options);
    },
  };
});

vi.mock('../../src/ttl/index.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/ttl/index.ts')>();
  class RecordingTtlStore extends original.TtlStore {
    constructor(options?: ConstructorParameters<typeof original.TtlStore>[0]) {
      super(options);
      seen.handlers.set('ttl', options?.onError);
    }
  }
  return { ...original, TtlStore: RecordingTtlStore };
});

vi.mock('../../src/server/index.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/server/index.ts')>();
  return {
    ...original,
    logBackgroundErrors: (logger: Parameters<typeof original.logBackgroundErrors>[0]) => {
      const log = original.logBackgroundErrors(logger);
      return ((error, context) => {
        seen.logged.push({ error, source: context.source });
        log(error, context);
      }) satisfies BackgroundErrorHandler;
    },
  };
});

const { serve } = await import('../../src/cli/commands/serve.ts');

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('agentstate serve: background errors of its stores', () => {
  it('reach the server log once the server exists', async () => {
    const data = mkdtempSync(join(tmpdir(), 'agentstate-serve-errors-'));
    dirs.push(data);
    const out: string[] = [];
    const stop = new AbortController();
    const running = serve(
      ['--port', '0', '--data', data, '--log-level', 'fatal'],
      { out: (text) => out.push(text), err: () => {}, interactive: false },
      stop.signal,
    );
    try {
      for (let i = 0; i < 400 && !out.some((line) => line.startsWith('dashboard: ')); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(out.some((line) => line.startsWith('dashboard: '))).toBe(true);
      for (const store of ['rollouts', 'documents', 'ttl']) {
        const onError = seen.handlers.get(store);
        expect(onError, store).toBeTypeOf('function');
        const error = new Error(`${store} sweep failed`);
        onError!(error, { source: `${store} sweep` });
        expect(seen.logged.at(-1)).toEqual({ error, source: `${store} sweep` });
      }
    } finally {
      stop.abort();
      await running;
    }
  }, 30_000);
});
