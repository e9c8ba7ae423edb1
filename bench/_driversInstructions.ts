/**
 * A fixed put/get workload on one DocumentStore driver, the operations of `npm run bench drivers`
 * (1 KB and 100 KB documents, puts cycling over 500 ids, then gets), for counting instructions, which
 * stay repeatable on a loaded machine where timings do not:
 *
 *   ROOT=<checkout> DRIVER=memory|sqlite|fs OPS=2000 \
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null npx node bench/_driversInstructions.ts
 *
 * `ROOT` is the checkout whose `src/` is measured (this one by default), so the same script measures an
 * older commit checked out elsewhere. Run it with OPS=0 too: the difference is the workload's cost
 * without start-up. The payload is fixed bytes (not random), so every run does exactly the same work.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DocumentStore } from '../src/index.ts';

const root = process.env.ROOT ?? new URL('..', import.meta.url).pathname;
const agentstate = await import(`${root}/src/index.ts`);
const driver = process.env.DRIVER ?? 'memory';
const ops = Number(process.env.OPS ?? 2000);
const KEYS = 500;

const dir = mkdtempSync(join(tmpdir(), 'agentstate-driver-instructions-'));
const store: DocumentStore =
  driver === 'sqlite'
    ? agentstate.createSqliteStore({ path: join(dir, 'state.db') })
    : driver === 'fs'
      ? agentstate.createFsStore({ dir, durable: false })
      : agentstate.createMemoryStore();
const cpu = process.cpuUsage();
for (const size of [1024, 100 * 1024]) {
  const text = 'x'.repeat(size - 48);
  for (let i = 0; i < ops; i++)
    await store.put('bench', `doc-${i % KEYS}`, { kind: 'agent-state', step: i, text });
  const written = Math.min(ops, KEYS);
  for (let i = 0; i < ops && written > 0; i++) await store.get('bench', `doc-${(i * 7919) % written}`);
}
const used = process.cpuUsage(cpu);
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  `${driver} ops=${ops}: ${((used.user + used.system) / Math.max(ops, 1) / 4).toFixed(1)} CPU us per operation`,
);
