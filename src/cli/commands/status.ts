/** `agentstate status`: is the server up, and what does it hold. */

import type { PerformanceReport } from '../../persistence/index.ts';
import { CLIENT_OPTIONS, parse, serverClient } from '../args.ts';
import type { Io } from '../output.ts';

/** Help text of `status`. */
export const STATUS_HELP = `Usage: agentstate status [--url URL] [--token T] [--json]

Show whether the server answers, what its rollout store holds and, when it runs with
--config, the persistence report: latency per backend, cache hit rates, compression and
recommendations.

Options:
  --url <url>     Server (default $AGENTSTATE_URL or http://127.0.0.1:4747)
  --token <t>     Bearer token (default $AGENTSTATE_TOKEN)
  --json          Print JSON
  -h, --help      Show this help`;

/** Runs `status`. */
export async function status(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, CLIENT_OPTIONS);
  if (values.help) {
    io.out(STATUS_HELP);
    return 0;
  }
  const client = serverClient(values, { retries: 0 });
  try {
    const health = await client.health();
    const stats = await client.statistics();
    const persistence = await client.persistenceReport();
    if (values.json) {
      io.out(JSON.stringify({ url: client.url, health, statistics: stats, persistence }, null, 2));
      return 0;
    }
    io.out(`server     ${client.url} (${health.status}, up ${Math.round(health.uptimeMs / 1000)} s)`);
    io.out(`backend    ${stats.backend}`);
    io.out(`rollouts   ${stats.totalRollouts} (queue ${stats.queueLength})`);
    const byStatus = Object.entries(stats.rolloutsByStatus)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ');
    if (byStatus) io.out(`by status  ${byStatus}`);
    io.out(`attempts   ${stats.totalAttempts}`);
    io.out(`spans      ${stats.totalSpans}`);
    io.out(`resources  ${stats.totalResources}`);
    io.out(`workers    ${stats.totalWorkers}`);
    if (persistence) printPersistence(persistence, io);
    return 0;
  } finally {
    await client.close();
  }
}

function printPersistence(report: PerformanceReport, io: Io): void {
  io.out('persistence');
  for (const b of report.backends) {
    const ops = Object.entries(b.operations)
      .map(([op, s]) => `${op} ${s.count} (${s.meanMs.toFixed(2)} ms)`)
      .join(', ');
    const ratio = b.compressionRatio === undefined ? '' : `, stored/plain ${b.compressionRatio.toFixed(2)}`;
    const cache = b.cache ? `, cache hit rate ${Math.round(b.cache.hitRate * 100)}%` : '';
    io.out(`  ${b.backend.padEnd(12)} ${ops || 'no calls'}${ratio}${cache}`);
  }
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  io.out(
    `  memory       rss ${mib(report.memory.rssBytes)}, heap ${mib(report.memory.heapUsedBytes)} (${report.memory.trend})`,
  );
  if (report.recommendations.length === 0) io.out('  no recommendations');
  for (const r of report.recommendations) io.out(`  [${r.priority}] ${r.message}`);
}
