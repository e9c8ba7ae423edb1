/** `agentstate rollouts list|show`. */
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import type { RolloutStatus } from '../../rollouts/index.ts';
import { CLIENT_OPTIONS, intOption, parse, serverClient } from '../args.ts';
import { type Io, isoSeconds, table } from '../output.ts';

/** Help text of `rollouts`. */
export const ROLLOUTS_HELP = `Usage: agentstate rollouts list [--status S]... [--limit N] [--offset N] [--json]
       agentstate rollouts show <rolloutId> [--json]

List rollouts (newest last), or show one with its attempts and span count.

Options:
  --status <s>    Only this status (repeatable): queuing, preparing, running, failed,
                  succeeded, cancelled, requeuing
  --limit <n>     At most n rollouts (default 50)
  --offset <n>    Skip n rollouts
  --url <url>     Server (default $AGENTSTATE_URL or http://127.0.0.1:4747)
  --token <t>     Bearer token (default $AGENTSTATE_TOKEN)
  --json          Print JSON
  -h, --help      Show this help`;

/** Runs `rollouts`. */
export async function rollouts(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...CLIENT_OPTIONS,
    status: { type: 'string', multiple: true },
    limit: { type: 'string' },
    offset: { type: 'string' },
  });
  const [sub, id] = positionals;
  if (values.help || sub === undefined) {
    io.out(ROLLOUTS_HELP);
    return values.help ? 0 : 2;
  }
  const client = serverClient(values, { retries: 0 });
  try {
    if (sub === 'list') {
      const page = await client.queryRollouts({
        ...(values.status ? { statusIn: values.status as RolloutStatus[] } : {}),
        limit: intOption(values.limit, 'limit', 50),
        offset: intOption(values.offset, 'offset', 0),
      });
      if (values.json) {
        io.out(JSON.stringify(page, null, 2));
        return 0;
      }
      table(
        io,
        page.items.map((r) => ({
          id: r.rolloutId,
          status: r.status,
          mode: r.mode,
          attempt: 'attempt' in r ? `${r.attempt.sequenceId} ${r.attempt.status}` : null,
          worker: 'attempt' in r ? r.attempt.workerId : null,
          started: isoSeconds(r.startTime),
        })),
        ['id', 'status', 'mode', 'attempt', 'worker', 'started'],
      );
      io.out(`${page.items.length} of ${page.total}`);
      return 0;
    }
    if (sub === 'show') {
      if (!id) throw new InvalidInputError('rollouts show needs a rollout id', { argument: 'rolloutId' });
      const rollout = await client.getRolloutById(id);
      if (!rollout) throw new NotFoundError(`no rollout '${id}'`, { rolloutId: id });
      const attempts = await client.queryAttempts(id);
      const spans = await client.querySpans(id, { limit: 0 });
      if (values.json) {
        io.out(JSON.stringify({ rollout, attempts: attempts.items, spanCount: spans.total }, null, 2));
        return 0;
      }
      io.out(`rollout    ${rollout.rolloutId}`);
      io.out(`status     ${rollout.status}`);
      io.out(`mode       ${rollout.mode ?? '-'}`);
      io.out(`resources  ${rollout.resourcesId ?? '-'}`);
      io.out(`started    ${isoSeconds(rollout.startTime)}`);
      io.out(`ended      ${isoSeconds(rollout.endTime)}`);
      io.out(`input      ${JSON.stringify(rollout.input)}`);
      io.out(`spans      ${spans.total}`);
      io.out('');
      table(
        io,
        attempts.items.map((a) => ({
          attempt: a.attemptId,
          seq: a.sequenceId,
          status: a.status,
          worker: a.workerId,
          started: isoSeconds(a.startTime),
          ended: isoSeconds(a.endTime),
        })),
        ['attempt', 'seq', 'status', 'worker', 'started', 'ended'],
      );
      return 0;
    }
    throw new InvalidInputError(`unknown subcommand 'rollouts ${sub}'; use list or show`, { argument: sub });
  } finally {
    await client.close();
  }
}
