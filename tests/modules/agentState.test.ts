import { describe, expect, it, vi } from 'vitest';
import { AgentStateManager, AgentStateModule, ModuleTypeRegistry } from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';

describe('AgentStateModule', () => {
  it('starts idle with empty metrics', () => {
    const agent = new AgentStateModule('a1');
    expect(agent.status).toBe('idle');
    expect(agent.currentTaskId).toBeNull();
    expect(agent.metrics).toMatchObject({ totalMessages: 0, successfulTasks: 0, failedTasks: 0 });
    expect(agent.successRate).toBe(0);
  });

  it('runs tasks: busy while running, idle after, counts successes and failures', () => {
    const clock = new ManualClock();
    const agent = new AgentStateModule('a1', { now: clock.now });
    agent.startTask('t1');
    expect(agent.status).toBe('busy');
    expect(agent.currentTaskId).toBe('t1');
    expect(() => agent.startTask('t2')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    clock.advance(200);
    agent.completeTask(true);
    expect(agent.status).toBe('idle');
    expect(agent.currentTaskId).toBeNull();
    expect(agent.metrics.averageResponseTimeMs).toBe(200);
    agent.startTask('t2');
    clock.advance(100);
    agent.completeTask(false);
    expect(agent.metrics.successfulTasks).toBe(1);
    expect(agent.metrics.failedTasks).toBe(1);
    expect(agent.successRate).toBe(0.5);
    // Moving average: 0.1 * 100 + 0.9 * 200.
    expect(agent.metrics.averageResponseTimeMs).toBeCloseTo(190);
    expect(agent.metrics.lastActivityAt).toBe(clock.time);
    expect(() => agent.completeTask()).toThrow(/no task in progress/);
  });

  it('completeTask with a bad response time is refused with the task still in progress and nothing counted', () => {
    const clock = new ManualClock();
    const agent = new AgentStateModule('a1', { now: clock.now });
    agent.startTask('t1');
    expect(() => agent.completeTask(true, { responseTimeMs: -5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { responseTimeMs: -5 } }),
    );
    expect(agent.currentTaskId).toBe('t1');
    expect(agent.metrics.successfulTasks).toBe(0);
    // A retry with a good value counts the task exactly once.
    agent.completeTask(true, { responseTimeMs: 50 });
    expect(agent.metrics.successfulTasks).toBe(1);
    expect(agent.metrics.averageResponseTimeMs).toBe(50);
  });

  it('completeTask counts a task whose clock went backwards with a response time of 0', () => {
    const clock = new ManualClock();
    const agent = new AgentStateModule('a1', { now: clock.now });
    agent.startTask('t1');
    clock.advance(-1000);
    agent.completeTask(true);
    expect(agent.currentTaskId).toBeNull();
    expect(agent.metrics.successfulTasks).toBe(1);
    expect(agent.metrics.averageResponseTimeMs).toBe(0);
  });

  it('updateStatus records the reason and refuses an unknown status', () => {
    const agent = new AgentStateModule('a1');
    agent.updateStatus('offline', 'maintenance');
    expect(agent.status).toBe('offline');
    expect(agent.statusReason).toBe('maintenance');
    expect(() => agent.updateStatus('sleeping' as 'idle')).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ path: '$.status' }) }),
    );
    expect(agent.status).toBe('offline');
  });

  it('keeps a bounded conversation context but counts every message', () => {
    const clock = new ManualClock();
    const agent = new AgentStateModule('a1', { now: clock.now, maxContextMessages: 3 });
    for (let i = 0; i < 5; i++) {
      clock.advance(1);
      agent.addConversationMessage({ role: 'user', content: `m${i}` });
    }
    expect(agent.conversation.map((m) => m.content)).toEqual(['m2', 'm3', 'm4']);
    expect(agent.conversation[2]!.timestamp).toBe(clock.time);
    expect(agent.metrics.totalMessages).toBe(5);
    expect(agent.getConversation(2).map((m) => m.content)).toEqual(['m3', 'm4']);
  });

  it('refuses a message the codec cannot store, naming the path, and keeps the context as it was', () => {
    const agent = new AgentStateModule('a1');
    expect(() => agent.addConversationMessage({ content: 'x', callback: () => 1 })).toThrow(
      expect.objectContaining({ details: { path: '$.conversation[0].callback' } }),
    );
    expect(agent.conversation).toEqual([]);
    expect(agent.metrics.totalMessages).toBe(0);
  });

  it('status listeners fire and the state round-trips', () => {
    const agent = new AgentStateModule('a1');
    const listener = vi.fn();
    agent.onStateChange('status', listener);
    agent.startTask('t');
    expect(listener).toHaveBeenCalledWith('status', 'idle', 'busy');
    agent.addConversationMessage({ content: 'hi' });
    const copy = new AgentStateModule('other');
    copy.loadStateDict(agent.stateDict());
    expect(copy.agentId).toBe('a1');
    expect(copy.currentTaskId).toBe('t');
    expect(copy.conversation).toEqual(agent.conversation);
    expect(copy.metrics).toEqual(agent.metrics);
  });
});

describe('AgentStateManager (in memory)', () => {
  it('creates, gets, lists, filters by status and removes agents', () => {
    const manager = new AgentStateManager();
    const a = manager.createAgent('a');
    manager.createAgent('b').startTask('t');
    expect(() => manager.createAgent('a')).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
    expect(manager.getAgent('a')).toBe(a);
    expect(manager.getAgent('zz')).toBeUndefined();
    expect(manager.agentIds()).toEqual(['a', 'b']);
    expect(manager.agentsByStatus('busy').map((x) => x.agentId)).toEqual(['b']);
    expect(manager.removeAgent('a')).toBe(true);
    expect(manager.removeAgent('a')).toBe(false);
    expect(manager.listAgents().map((x) => x.agentId)).toEqual(['b']);
  });

  it('tracks changes of its agents', () => {
    const manager = new AgentStateManager();
    manager.createAgent('a').updateStatus('error', 'crash');
    expect(manager.tracker.history({ moduleId: 'a', attribute: 'status' })).toMatchObject([
      { oldValue: 'idle', newValue: 'error' },
    ]);
  });

  it('global snapshots restore every agent at once', () => {
    const manager = new AgentStateManager();
    const a = manager.createAgent('a');
    const b = manager.createAgent('b');
    const name = manager.createGlobalSnapshot('before');
    expect(name).toBe('before');
    a.startTask('t');
    b.addConversationMessage({ content: 'x' });
    expect(manager.restoreGlobalSnapshot('before')).toBe(2);
    expect(a.status).toBe('idle');
    expect(b.conversation).toEqual([]);
  });

  it('global snapshots taken in the same millisecond get distinct default names', () => {
    const clock = new ManualClock();
    const manager = new AgentStateManager({ now: clock.now });
    const a = manager.createAgent('a');
    const first = manager.createGlobalSnapshot();
    a.updateStatus('busy');
    const second = manager.createGlobalSnapshot();
    expect(second).not.toBe(first);
    a.updateStatus('error');
    manager.restoreGlobalSnapshot(first);
    expect(a.status).toBe('idle');
  });

  it('system metrics add up over agents', () => {
    const manager = new AgentStateManager();
    const a = manager.createAgent('a');
    const b = manager.createAgent('b');
    a.startTask('1');
    a.completeTask(true);
    b.startTask('2');
    b.completeTask(false);
    b.startTask('3');
    a.addConversationMessage({ content: 'x' });
    expect(manager.systemMetrics()).toMatchObject({
      totalAgents: 2,
      byStatus: { idle: 1, busy: 1, error: 0, offline: 0, initializing: 0 },
      totalMessages: 1,
      successfulTasks: 1,
      failedTasks: 1,
      overallSuccessRate: 0.5,
    });
  });

  it('a custom agent class must be a registered type, checked when the agent is created', () => {
    class CustomAgent extends AgentStateModule {}
    const manager = new AgentStateManager({ createAgent: (id) => new CustomAgent(id) });
    expect(() => manager.createAgent('a')).toThrow(expect.objectContaining({ code: 'UNKNOWN_TYPE' }));
    expect(manager.agentIds()).toEqual([]);
    const types = new ModuleTypeRegistry().register('test.custom-agent', CustomAgent, {
      create: () => new CustomAgent('pending'),
    });
    const ok = new AgentStateManager({ types, createAgent: (id) => new CustomAgent(id) });
    expect(ok.createAgent('a')).toBeInstanceOf(CustomAgent);
  });

  it('createAgent refuses a createAgent factory that returns an agent with another id', () => {
    const manager = new AgentStateManager({ createAgent: () => new AgentStateModule('other') });
    expect(() => manager.createAgent('a')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { agentId: 'a', createdId: 'other' } }),
    );
    expect(manager.agentIds()).toEqual([]);
  });

  it('saveAll without a store is a clear error', async () => {
    await expect(new AgentStateManager().saveAll()).rejects.toThrow(/no store configured/);
  });
});
