/**
 * AgentStateSession (OpenAI Agents SDK Session) on memory, SQLite and PostgreSQL: the SDK's own Runner
 * with its scripted model (no network) keeps a conversation in it, and the session's own operations read
 * and write only the pages they need.
 */
import { Agent, type AgentInputItem, Runner, user } from '@openai/agents-core';
import { assistantMessage, ScriptedModel } from '@openai/agents-core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchOperation } from '../../src/drivers/index.ts';
import { AgentStateSession } from '../../src/integrations/openai-agents/index.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';
import { recordingBatches } from '../support/recording.ts';

const factories = driverFactories.filter((f) => ['memory', 'sqlite', 'postgres'].includes(f.name));
const available = new Map<string, boolean>();
for (const factory of factories) available.set(factory.name, await factory.available());

const text = (item: AgentInputItem | undefined): string => JSON.stringify(item);

describe.each(factories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'AgentStateSession on %s',
  (name, factory) => {
    let fixture: DriverFixture;
    let batches: BatchOperation[][];

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      fixture = await factory.create();
      const recorded = recordingBatches(fixture.store);
      batches = recorded.batches;
      fixture = { ...fixture, store: recorded.store };
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });

    it("keeps a conversation across the SDK Runner's turns, and a new process sees it", async () => {
      const model = new ScriptedModel([
        [assistantMessage('Hello, Ada.')],
        [assistantMessage('Your name is Ada.')],
      ]);
      const agent = new Agent({ name: 'assistant', instructions: 'Be brief.', model });
      const runner = new Runner({ tracingDisabled: true });
      const session = new AgentStateSession(fixture.store, { sessionId: 'conversation-1' });
      const first = await runner.run(agent, 'My name is Ada.', { session });
      expect(first.finalOutput).toBe('Hello, Ada.');
      const second = await runner.run(agent, 'What is my name?', { session });
      expect(second.finalOutput).toBe('Your name is Ada.');
      // The second model call received the first turn from the session.
      const input = JSON.stringify(model.calls[1]?.request.input);
      expect(input).toContain('My name is Ada.');
      expect(input).toContain('Hello, Ada.');

      const reopened = new AgentStateSession(fixture.store, { sessionId: 'conversation-1' });
      const items = await reopened.getItems();
      expect(items).toHaveLength(4);
      expect(text(items[0])).toContain('My name is Ada.');
      expect(text(items[3])).toContain('Your name is Ada.');
      expect(await reopened.getItems(1)).toEqual([items[3]]);
    });

    it('reads and writes only the pages a call needs, however long the history', async () => {
      const session = new AgentStateSession(fixture.store, { sessionId: 'long', pageSize: 16 });
      const all: AgentInputItem[] = Array.from({ length: 1000 }, (_, i) => user(`message ${i}`));
      await session.addItems(all);
      batches.length = 0;
      await session.addItems([user('one more')]);
      // One page (the partly filled last one) and the head, not the 1,001 items.
      expect(batches).toHaveLength(1);
      expect(batches[0]).toHaveLength(2);
      const page = batches[0]![0];
      expect(page?.type === 'put' && Array.isArray(page.value) && page.value.length).toBeLessThanOrEqual(16);
      const last = await session.getItems(3);
      expect(last.map(text)).toEqual([all[998], all[999], user('one more')].map(text));
      expect(text(await session.popItem())).toBe(text(user('one more')));
      expect(text(await session.popItem())).toBe(text(all[999]));
      expect(await session.getItems(1)).toEqual([all[998]].map((item) => JSON.parse(JSON.stringify(item))));
      expect(await session.getItems()).toHaveLength(999);
      await session.clearSession();
      expect(await session.getItems()).toEqual([]);
      expect(await session.popItem()).toBeUndefined();
      await session.addItems([user('fresh')]);
      expect((await session.getItems()).map(text)).toEqual([text(user('fresh'))]);
    });

    it('two writers on one session never lose an item', async () => {
      const a = new AgentStateSession(fixture.store, { sessionId: 'shared', pageSize: 4 });
      const b = new AgentStateSession(fixture.store, { sessionId: 'shared', pageSize: 4 });
      await a.addItems([user('a0')]);
      await b.getItems(); // b now knows the head at one item
      await a.addItems([user('a1')]);
      await b.addItems([user('b0')]); // b's head is stale: compare-and-set fails, b reloads and appends
      await Promise.all([a.addItems([user('a2')]), b.addItems([user('b1')])]);
      const items = (await a.getItems()).map((item) => JSON.stringify(item));
      expect(items).toHaveLength(5);
      for (const label of ['a0', 'a1', 'b0', 'a2', 'b1']) expect(items.join()).toContain(label);
    });

    it('refuses a bad session id and a bad limit with coded errors', async () => {
      expect(() => new AgentStateSession(fixture.store, { sessionId: '../x' })).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
      const session = new AgentStateSession(fixture.store, { sessionId: 's' });
      await expect(session.getItems(-1)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });
  },
);
