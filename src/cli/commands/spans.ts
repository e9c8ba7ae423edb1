/** `agentstate spans tail <rolloutId>`: print a rollout's spans, and with --follow keep printing new ones. */
import { InvalidInputError } from '../../errors.ts';
import type { Span } from '../../rollouts/index.ts';
import { CLIENT_OPTIONS, intOption, parse, serverClient } from '../args.ts';
import { type Io, isoSeconds } from '../output.ts';

/** Help text of `spans`. */
export const SPANS_HELP = `Usage: agentstate spans tail <rolloutId> [-n N] [--follow] [--interval MS] [--json]

Print the last spans of a rollout in sequence order; --follow keeps printing new spans.

Options:
  -n, --lines <n>     How many of the latest spans to print first (default 20)
  -f, --follow        Keep polling for new spans until interrupted
  --interval <ms>     Poll interval with --follow (default 1000)
  --url <url>         Server (default $AGENTSTATE_URL or http://127.0.0.1:4747)
  --token <t>         Bearer token (default $AGENTSTATE_TOKEN)
  --json              One JSON span per line
  -h, --help          Show this help`;

function line(span: Span): string {
  const duration =
    span.startTime !== null && span.endTime !== null
      ? `${Math.round((span.endTime - span.startTime) * 1000)} ms`
      : '-';
  return `#${span.sequenceId}  ${isoSeconds(span.startTime)}  ${span.attemptId}  ${span.status.statusCode.padEnd(5)}  ${duration.padStart(8)}  ${span.name}`;
}

/** Runs `spans`. */
export async function spans(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...CLIENT_OPTIONS,
    lines: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f', default: false },
    interval: { type: 'string' },
  });
  const [sub, rolloutId] = positionals;
  if (values.help || sub === undefined) {
    io.out(SPANS_HELP);
    return values.help ? 0 : 2;
  }
  if (sub !== 'tail')
    throw new InvalidInputError(`unknown subcommand 'spans ${sub}'; use tail`, { argument: sub });
  if (!rolloutId) throw new InvalidInputError('spans tail needs a rollout id', { argument: 'rolloutId' });
  const client = serverClient(values);
  const print = (span: Span) => io.out(values.json ? JSON.stringify(span) : line(span));
  try {
    const lines = intOption(values.lines, 'lines', 20);
    const first = await client.querySpans(rolloutId, {
      sortBy: 'sequenceId',
      sortOrder: 'desc',
      limit: lines,
    });
    const shown = [...first.items].reverse();
    for (const span of shown) print(span);
    if (!values.follow) return 0;
    let lastSequence = shown.at(-1)?.sequenceId ?? 0;
    let seen = first.total;
    const intervalMs = intOption(values.interval, 'interval', 1000);
    const stopped = new Promise<void>((resolve) => {
      signal?.addEventListener('abort', () => resolve(), { once: true });
      process.once('SIGINT', () => resolve());
    });
    let running = true;
    void stopped.then(() => {
      running = false;
    });
    while (running) {
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, intervalMs))]);
      if (!running) break;
      // Sequence ids only grow within a rollout, so "newer than the last printed" is a complete tail; the
      // offset skips the spans already seen so a poll reads only the new ones.
      const page = await client.querySpans(rolloutId, {
        sortBy: 'sequenceId',
        sortOrder: 'asc',
        offset: seen,
      });
      seen += page.items.length;
      for (const span of page.items) {
        if (span.sequenceId > lastSequence) {
          print(span);
          lastSequence = span.sequenceId;
        }
      }
    }
    return 0;
  } finally {
    await client.close();
  }
}
