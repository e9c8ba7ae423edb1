/** The one LISTEN connection: reconnects after a drop, and reports the drop and failed reconnects. */
import { EventEmitter } from 'node:events';
import type { Pool, PoolClient } from 'pg';
import { describe, expect, it } from 'vitest';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';
import { ChannelListener } from '../../src/shared/postgres/listener.ts';
import { eventually } from '../conformance/documentStore.ts';

class FakeClient extends EventEmitter {
  queries: string[] = [];
  released: unknown[] = [];
  async query(text: string): Promise<void> {
    this.queries.push(text);
  }
  release(error?: unknown): void {
    this.released.push(error);
  }
}

describe('shared ChannelListener', () => {
  it('delivers payloads, reports a lost connection and failed reconnects through onError, and says when it is back', async () => {
    const clients: FakeClient[] = [];
    let failures = 2;
    const pool = {
      connect: async () => {
        if (clients.length > 0 && failures-- > 0) throw new Error('connection refused');
        const client = new FakeClient();
        clients.push(client);
        return client as unknown as PoolClient;
      },
    } as unknown as Pool;
    const payloads: string[] = [];
    const listening: boolean[] = [];
    const reports: Array<{ message: string; context: BackgroundErrorContext }> = [];
    const listener = new ChannelListener(
      pool,
      'chan',
      (payload) => payloads.push(payload),
      (reconnected) => listening.push(reconnected),
      { onError: (error, context) => reports.push({ message: (error as Error).message, context }) },
    );
    await listener.start();
    expect(clients[0]!.queries).toEqual(['LISTEN "chan"']);
    clients[0]!.emit('notification', { channel: 'chan', payload: 'a,b' });
    clients[0]!.emit('notification', { channel: 'other', payload: 'x' });
    expect(payloads).toEqual(['a,b']);

    clients[0]!.emit('error', new Error('server closed the connection'));
    expect(listener.listening).toBe(false);
    await eventually(() => listener.listening, 5000);
    expect(listening).toEqual([false, true]);
    expect(reports.map((r) => [r.message, r.context.details?.what])).toEqual([
      ['server closed the connection', 'connection lost'],
      ['connection refused', 'reconnect failed'],
      ['connection refused', 'reconnect failed'],
    ]);
    expect(reports[0]!.context.source).toBe('postgres listener');

    await listener.close();
    expect(clients[1]!.queries.at(-1)).toBe('UNLISTEN "chan"');
    await expect(listener.start()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
