/**
 * On a Node.js older than the package supports, the CLI prints one line (running version, needed
 * version, how to get it) and exits 1 before any other module loads; the server entry refuses to import.
 * The child runs on the pinned Node with process.versions.node faked by a preload.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isSupportedNode, MIN_NODE, unsupportedNodeMessage } from '../../src/nodeVersion.ts';
import { importArgs, ROOT, runRecorded } from './childModules.ts';

const FAKE = pathToFileURL(join(ROOT, 'tests/support/fakeNodeVersion.ts')).href;
const OLD = { env: { FAKE_NODE_VERSION: '20.20.2' }, preload: [FAKE] };

describe('Node.js version check', () => {
  it('compares versions numerically', () => {
    expect(isSupportedNode('22.18.0')).toBe(true);
    expect(isSupportedNode('v24.1.0')).toBe(true);
    expect(isSupportedNode('22.9.0')).toBe(false); // 9 < 18 as numbers, not as text
    expect(isSupportedNode('22.17.1')).toBe(false);
    expect(isSupportedNode('20.20.2')).toBe(false);
    expect(isSupportedNode('100.0.0')).toBe(true);
    expect(unsupportedNodeMessage(process.versions.node)).toBeUndefined();
  });

  it('package.json engines, the check and the README name the same version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE}`);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`Node.js >= ${MIN_NODE}`);
    // Every "Node.js >= x" the README states is that version.
    const stated = [...readme.matchAll(/Node(?:\.js)? >= ?(\d+(?:\.\d+)*)/g)].map((m) => m[1]);
    expect(new Set(stated)).toEqual(new Set([MIN_NODE]));
  });

  it('the CLI prints one line and exits 1 before loading anything else', () => {
    const run = runRecorded(['src/cli/bin.ts', 'serve', '--port', '0'], OLD);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`needs Node.js >= ${MIN_NODE}`);
    expect(lines[0]).toContain('this is Node.js 20.20.2');
    expect(lines[0]).toContain('https://nodejs.org');
    expect(run.sources.sort()).toEqual(['cli/bin.ts', 'nodeVersion.ts']);
    expect(run.packages).toEqual([]);
    expect(run.native).toEqual([]);
  });

  it('the CLI runs normally on a supported Node', () => {
    const run = runRecorded(['src/cli/bin.ts', 'version'], {});
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('importing agentstate/server fails with the same line, before any of its modules runs', () => {
    const run = runRecorded(importArgs('src/server.ts'), OLD);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      `Error: agentstate needs Node.js >= ${MIN_NODE}, but this is Node.js 20.20.2`,
    );
    // ESM reads the whole import graph before running any of it, so Fastify's files are read; the check
    // runs first, and nothing after it (Fastify, a native module) is executed.
    expect(run.native).toEqual([]);
  });
});
