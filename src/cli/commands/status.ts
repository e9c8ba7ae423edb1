/** `agentstate status`: is the server up, and what does it hold. */
import { CLIENT_OPTIONS, parse, serverClient } from '../args.ts';
import type { Io } from '../output.ts';

/** Help text of `status`. */
export const STATUS_HELP = `Usage: agentstate status [--url URL] [--token T] [--json]

Show whether the server answers and what its rollout store holds.

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
    if (values.json) {
      io.out(JSON.stringify({ url: client.url, health, statistics: stats }, null, 2));
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
    return 0;
  } finally {
    await client.close();
  }
}
