/**
 * The optional peers (LangGraph, the OpenAI Agents SDK) are reached only through the subpath exports:
 * no module the package root loads imports them, so an application without them installed still works.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };

const src = fileURLToPath(new URL('../../src/', import.meta.url));
const PEERS = /from ['"](@langchain\/|@openai\/)/;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('optional peer dependencies', () => {
  it('are imported only under src/integrations/', async () => {
    const offenders: string[] = [];
    for (const file of await files(src)) {
      if (file.startsWith(join(src, 'integrations'))) continue;
      if (PEERS.test(await readFile(file, 'utf8'))) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });

  it('are optional peers, and the integrations have subpath exports', () => {
    const meta = packageJson.peerDependenciesMeta as Record<string, { optional?: boolean }>;
    for (const peer of ['@langchain/core', '@langchain/langgraph-checkpoint', '@openai/agents-core']) {
      expect(packageJson.peerDependencies).toHaveProperty([peer]);
      expect(meta[peer]?.optional).toBe(true);
    }
    expect(Object.keys(packageJson.exports)).toEqual(
      expect.arrayContaining(['./langgraph', './openai-agents']),
    );
  });
});
