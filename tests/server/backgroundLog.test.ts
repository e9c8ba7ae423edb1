/** The server's background loops report into the server's log (the default `onError` there). */
import { describe, expect, it } from 'vitest';
import type { BackgroundErrorContext } from '../../src/index.ts';
import { SharedFeed } from '../../src/server/events/sharedFeed.ts';
import { logBackgroundErrors, PostgresEventRelay } from '../../src/server.ts';
import { eventually } from '../conformance/documentStore.ts';

describe('server background errors', () => {
  it('logBackgroundErrors writes one error line with the source and details as fields', () => {
    const lines: Array<[Record<string, unknown>, string]> = [];
    const logger = {
      error: (fields: Record<string, unknown>, message: string) => lines.push([fields, message]),
    };
    const onError = logBackgroundErrors(logger as never);
    const error = new Error('connection refused');
    onError(error, { source: 'event relay', details: { channel: 'c', what: 'NOTIFY failed' } });
    expect(lines).toEqual([
      [{ err: error, source: 'event relay', channel: 'c', what: 'NOTIFY failed' }, 'event relay failed'],
    ]);
  });

  it('a change feed that fails to open or to close is reported, not dropped', async () => {
    const reports: Array<[string, string]> = [];
    const failingOpen = new SharedFeed(
      async () => {
        throw new Error('no feed');
      },
      (error, what) => reports.push([(error as Error).message, what]),
    );
    await failingOpen.acquire();
    const failingClose = new SharedFeed(
      async () => async () => {
        throw new Error('close broke');
      },
      (error, what) => reports.push([(error as Error).message, what]),
    );
    await failingClose.acquire();
    await failingClose.close();
    expect(reports).toEqual([
      ['no feed', 'open'],
      ['close broke', 'close'],
    ]);
  });

  it('the PostgreSQL event relay reports failed NOTIFYs once per outage, to the log start() gives it', async () => {
    let failing = true;
    const pool = {
      query: async () => {
        if (failing) throw new Error('database down');
        return { rows: [] };
      },
      connect: async () => {
        throw new Error('database down');
      },
      on: () => pool,
    };
    const relay = new PostgresEventRelay({ pool: pool as never });
    const reports: Array<[string, BackgroundErrorContext]> = [];
    await relay
      .start(
        () => {},
        (error, context) => reports.push([(error as Error).message, context]),
      )
      .catch(() => undefined); // the LISTEN connection cannot open either: start() rejects to its caller
    const event = { kind: 'document' as const, action: 'put', at: 0 };
    relay.publish(event);
    await eventually(() => reports.length > 0, 2000);
    relay.publish(event);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(reports).toEqual([
      [
        'database down',
        {
          source: 'event relay',
          details: { channel: 'agentstate_events_agentstate', what: 'NOTIFY failed' },
        },
      ],
    ]);
    failing = false;
    await relay.close();
  });
});
