/** The PostgreSQL LISTEN connection reports when it is back after a drop (notifications may be lost). */
import { EventEmitter } from 'node:events';
import type { Pool, PoolClient } from 'pg';
import { describe, expect, it } from 'vitest';
import { ChannelListener } from '../../src/drivers/postgres/listener.ts';
import { eventually } from '../conformance/documentStore.ts';

class FakeClient extends EventEmitter {
  released = false;
  async query(): Promise<void> {}
  release(): void {
    this.released = true;
  }
}

describe('ChannelListener', () => {
  it('calls onReconnect once LISTEN is active again after the connection dropped, not on the first connect', async () => {
    const clients: FakeClient[] = [];
    const pool = {
      connect: async () => {
        const client = new FakeClient();
        clients.push(client);
        return client as unknown as PoolClient;
      },
    } as unknown as Pool;
    let reconnects = 0;
    const listener = new ChannelListener(pool, 'chan', 'origin', () => {}, {
      afterListen: async () => {},
      beforeUnlisten: async () => {},
      onReconnect: () => reconnects++,
    });
    await listener.start();
    expect(reconnects).toBe(0);
    clients[0]!.emit('end');
    expect(listener.listening).toBe(false);
    await eventually(() => listener.listening, 2000);
    expect(reconnects).toBe(1);
    expect(clients).toHaveLength(2);
    await listener.close();
  });
});
