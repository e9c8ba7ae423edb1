/**
 * AgentStateSaver under a real LangGraph.js graph (@langchain/langgraph): state kept across invocations,
 * an interrupt resumed from storage by a new saver (another process's view), history and time travel,
 * on memory, SQLite and PostgreSQL.
 */
import { Annotation, Command, END, interrupt, MemorySaver, START, StateGraph } from '@langchain/langgraph';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentStateSaver } from '../../src/integrations/langgraph/index.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';

const factories = driverFactories.filter((f) => ['memory', 'sqlite', 'postgres'].includes(f.name));
const available = new Map<string, boolean>();
for (const factory of factories) available.set(factory.name, await factory.available());

const State = Annotation.Root({
  messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  approved: Annotation<boolean>({ reducer: (_a, b) => b, default: () => false }),
  big: Annotation<string>({ reducer: (_a, b) => b, default: () => '' }),
});

function graph(checkpointer: AgentStateSaver | MemorySaver) {
  return new StateGraph(State)
    .addNode('greet', (state) => ({ messages: [`hello #${state.messages.length}`], big: 'x'.repeat(10_000) }))
    .addNode('approve', () => {
      const answer = interrupt('approve?') as string;
      return { approved: answer === 'yes', messages: [`answer: ${answer}`] };
    })
    .addEdge(START, 'greet')
    .addEdge('greet', 'approve')
    .addEdge('approve', END)
    .compile({ checkpointer });
}

describe.each(factories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'a LangGraph graph on %s',
  (name, factory) => {
    let fixture: DriverFixture;

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      fixture = await factory.create();
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });

    it('keeps state across invocations and resumes an interrupt from storage, as MemorySaver does', async () => {
      const config = { configurable: { thread_id: 'thread-1' } };
      const ours = graph(new AgentStateSaver(fixture.store));
      const reference = graph(new MemorySaver());
      for (const app of [ours, reference]) {
        const first = await app.invoke({ messages: ['hi'] }, config);
        expect((first as { __interrupt__?: Array<{ value: unknown }> }).__interrupt__?.[0]?.value).toBe(
          'approve?',
        );
      }
      // A new saver on the same storage (a restarted process) resumes the interrupted run.
      const resumed = await graph(new AgentStateSaver(fixture.store)).invoke(
        new Command({ resume: 'yes' }),
        config,
      );
      const expected = await reference.invoke(new Command({ resume: 'yes' }), config);
      expect(resumed.messages).toEqual(expected.messages);
      expect(resumed.approved).toBe(true);

      const again = await ours.invoke({ messages: ['more'] }, config);
      expect(again.messages.slice(0, 4)).toEqual(['hi', 'hello #1', 'answer: yes', 'more']);

      const history = [];
      for await (const snapshot of ours.getStateHistory(config)) history.push(snapshot);
      const referenceHistory = [];
      for await (const snapshot of reference.getStateHistory(config)) referenceHistory.push(snapshot);
      expect(history.length).toBeGreaterThan(referenceHistory.length - 1);
      // Time travel: the state as it was before the first approval (history is newest first).
      const beforeApproval = history.findLast((snapshot) => snapshot.next.includes('approve'));
      expect(beforeApproval?.values.messages).toEqual(['hi', 'hello #1']);
      const state = await ours.getState(beforeApproval!.config);
      expect(state.values.approved).toBe(false);
    });
  },
);
