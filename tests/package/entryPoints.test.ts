/**
 * What each entry point of package.json `exports` loads, checked in a fresh process: a user importing
 * `agentstate/client` must not pay for database drivers, Fastify or a native module, and the package root
 * loads drivers only when a store that needs one is created.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importArgs, type RecordedRun, ROOT, runRecorded } from './childModules.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** The source file behind an export target: ./dist/x.js -> src/x.ts (dist is built from src by tsc). */
function sourceOf(subpath: string): string {
  const target = pkg.exports[subpath];
  if (typeof target !== 'object') throw new Error(`no conditional export ${subpath}`);
  return target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
}

const loads = new Map<string, RecordedRun>();
function loadsOf(subpath: string): RecordedRun {
  let run = loads.get(subpath);
  if (!run) {
    run = runRecorded(importArgs(sourceOf(subpath)));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    loads.set(subpath, run);
  }
  return run;
}

const DRIVERS = ['pg', 'ioredis', 'better-sqlite3'];

describe('package entry points', () => {
  it('every export has its source file and its type declarations next to it', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === './package.json') continue;
      expect(typeof target, subpath).toBe('object');
      expect(existsSync(join(ROOT, sourceOf(subpath))), subpath).toBe(true);
      const { types, default: js } = target as { types: string; default: string };
      expect(types, subpath).toBe(js.replace(/\.js$/, '.d.ts'));
    }
    expect(Object.keys(pkg.exports).sort()).toEqual(
      ['.', './client', './keyv', './langgraph', './openai-agents', './package.json', './server'].sort(),
    );
  });

  it('agentstate/client loads no third-party package, no Node builtin, no native module and no server or store code', () => {
    const run = loadsOf('./client');
    expect(run.packages).toEqual([]);
    // Only globals (fetch, Web Crypto): the client runs in edge-like runtimes without Node's modules.
    expect(run.builtins).toEqual([]);
    expect(run.native).toEqual([]);
    // The client shares the wire format with the server (server/agl/wire.ts) and the rollout model types.
    const allowed =
      /^(client\.ts|errors\.ts|client\/|server\/agl\/wire\.ts|rollouts\/(model|otel|types|normalize)\.ts|codec\/(json|depth|path)\.ts|shared\/(storableText|backoff)\.ts)/;
    expect(run.sources.filter((s) => !allowed.test(s))).toEqual([]);
  });

  it('agentstate (the root) loads no database driver, no native module and no server', () => {
    const run = loadsOf('.');
    expect(run.packages.filter((p) => DRIVERS.includes(p))).toEqual([]);
    expect(run.packages).not.toContain('fastify');
    expect(run.native).toEqual([]);
    expect(run.sources.filter((s) => s.startsWith('server/') && s !== 'server/agl/wire.ts')).toEqual([]);
    expect(run.sources.filter((s) => s.startsWith('cli/'))).toEqual([]);
    // The YAML parser is for persistence config files only.
    expect(run.packages).not.toContain('yaml');
  });

  it('agentstate/server loads Fastify but no database driver until a store is created', () => {
    const run = loadsOf('./server');
    expect(run.packages).toContain('fastify');
    expect(run.packages.filter((p) => DRIVERS.includes(p))).toEqual([]);
    expect(run.native).toEqual([]);
  });

  it('agentstate/keyv loads the TTL layer only', () => {
    const run = loadsOf('./keyv');
    expect(run.packages).toEqual([]);
    expect(run.sources.filter((s) => !/^(keyv\.ts|errors\.ts|ttl\/|codec\/|shared\/)/.test(s))).toEqual([]);
  });

  it.each([['./langgraph'], ['./openai-agents']])(
    '%s loads no database driver and no native module',
    (subpath) => {
      const run = loadsOf(subpath);
      expect(run.packages.filter((p) => DRIVERS.includes(p))).toEqual([]);
      expect(run.native).toEqual([]);
    },
  );

  it('a SQLite store loads better-sqlite3 when it is created, and nothing for PostgreSQL or Redis', () => {
    const url = JSON.stringify(new URL('src/index.ts', `file://${ROOT}`).href);
    const run = runRecorded([
      '--input-type=module',
      '-e',
      `const m = await import(${url}); const s = new m.SqliteRolloutStore({ path: ':memory:' }); await s.close();`,
    ]);
    expect(run.stderr).toBe('');
    expect(run.packages).toContain('better-sqlite3');
    expect(run.packages).not.toContain('pg');
    expect(run.packages).not.toContain('ioredis');
    expect(run.native.some((p) => p.includes('/better-sqlite3/'))).toBe(true);
  });

  it.each([
    ['pg', 'createPostgresStore', `m.createPostgresStore({ connectionString: 'postgres://127.0.0.1:1/x' })`],
    [
      'pg',
      'PostgresRolloutStore',
      `new m.PostgresRolloutStore({ connectionString: 'postgres://127.0.0.1:1/x' })`,
    ],
    ['ioredis', 'RedisTtlStore', `new m.RedisTtlStore({ redis: 'redis://127.0.0.1:1' })`],
  ])('a missing %s is MISSING_DEPENDENCY naming it (%s)', (name, neededBy, create) => {
    const url = JSON.stringify(new URL('src/index.ts', `file://${ROOT}`).href);
    const run = runRecorded(
      [
        '--input-type=module',
        '-e',
        `const m = await import(${url});
         try { ${create}; console.log('created'); }
         catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, details: e.details })); }`,
      ],
      { env: { RECORD_MISSING_PACKAGES: name } },
    );
    expect(run.stderr).toBe('');
    const error = JSON.parse(run.stdout) as { name: string; code: string; message: string; details: object };
    expect(error).toEqual({
      name: 'MissingDependencyError',
      code: 'MISSING_DEPENDENCY',
      message: `${neededBy} needs the package '${name}', which is not installed: run \`npm install ${name}\``,
      details: { package: name, neededBy },
    });
  });
});
