import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionManager, SessionStateModule } from '../../src/index.ts';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';
import { ManualClock } from '../support/clock.ts';

describe('SessionStateModule', () => {
  it('adds and removes participants, tracking their activity', () => {
    const clock = new ManualClock();
    const s = new SessionStateModule('s1', { now: clock.now });
    expect(s.addParticipant('u1')).toBe(true);
    expect(s.addParticipant('u1')).toBe(false);
    s.addParticipant('__proto__');
    expect(s.participants).toEqual(['u1', '__proto__']);
    expect(s.participantActivity.get('__proto__')).toBe(clock.time);
    expect(s.removeParticipant('u1')).toBe(true);
    expect(s.removeParticipant('u1')).toBe(false);
    expect(s.participantActivity.has('u1')).toBe(false);
  });

  it('gives messages ids, senders and timestamps that the caller cannot override', () => {
    const clock = new ManualClock();
    const s = new SessionStateModule('s1', { now: clock.now });
    s.addParticipant('u1');
    clock.advance(5);
    const m = s.addMessage({ content: 'hi', id: 'forged', timestamp: 0 }, 'u1');
    expect(m).toEqual({ content: 'hi', id: 'msg_1', senderId: 'u1', timestamp: clock.time });
    expect(s.addMessage({ content: 'sys' }).senderId).toBeNull();
    expect(s.messageCount).toBe(2);
    expect(s.participantActivity.get('u1')).toBe(clock.time);
  });

  it('bounds the message history but keeps counting ids', () => {
    const s = new SessionStateModule('s1', { maxMessages: 2 });
    for (let i = 0; i < 5; i++) s.addMessage({ n: i });
    expect(s.messages.map((m) => m.id)).toEqual(['msg_4', 'msg_5']);
    expect(s.messageCount).toBe(5);
  });

  it('getMessages filters by sender and limits to the most recent', () => {
    const s = new SessionStateModule('s1');
    s.addMessage({ n: 1 }, 'a');
    s.addMessage({ n: 2 }, 'b');
    s.addMessage({ n: 3 }, 'a');
    s.addMessage({ n: 4 }, 'a');
    expect(s.getMessages({ senderId: 'a' }).map((m) => m.n)).toEqual([1, 3, 4]);
    expect(s.getMessages({ senderId: 'a', limit: 2 }).map((m) => m.n)).toEqual([3, 4]);
    expect(s.getMessages({ limit: 1 }).map((m) => m.n)).toEqual([4]);
    expect(s.getMessages()).toHaveLength(4);
  });

  it('pause, resume and end follow the lifecycle; an ended session takes no messages', () => {
    const s = new SessionStateModule('s1');
    s.pause('lunch');
    expect(s.status).toBe('paused');
    expect(s.statusReason).toBe('lunch');
    expect(() => s.pause()).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    s.resume();
    expect(s.status).toBe('active');
    s.end('done');
    expect(s.status).toBe('ended');
    expect(() => s.resume()).toThrow(/ended/);
    expect(() => s.addMessage({ x: 1 })).toThrow(/accepts no more messages/);
    s.end('again');
    expect(s.statusReason).toBe('done');
  });

  it('expiry follows the injected clock; summary reports it', () => {
    const clock = new ManualClock();
    const s = new SessionStateModule('s1', { now: clock.now });
    expect(s.isExpired()).toBe(false);
    s.setExpiration(1000);
    clock.advance(999);
    expect(s.isExpired()).toBe(false);
    clock.advance(1);
    expect(s.isExpired()).toBe(true);
    expect(s.summary()).toMatchObject({
      sessionId: 's1',
      durationMs: 1000,
      isExpired: true,
      messageCount: 0,
    });
    s.clearExpiration();
    expect(s.isExpired()).toBe(false);
    expect(() => s.setExpiration(0)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('context is a map of storable values', () => {
    const s = new SessionStateModule('s1');
    s.updateContext('topic', 'weather');
    s.updateContext('__proto__', { x: 1 });
    expect(s.getContext('topic')).toBe('weather');
    expect(() => s.updateContext('bad', Symbol('x'))).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    const copy = new SessionStateModule('other');
    copy.loadStateDict(s.stateDict());
    expect(copy.context).toEqual(s.context);
  });
});

describe('SessionManager (in memory)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('createSession with participants and expiry; a duplicate id throws', () => {
    const clock = new ManualClock();
    const manager = new SessionManager({ now: clock.now });
    const s = manager.createSession('s1', { participants: ['a', 'b'], expiresInMs: 500 });
    expect(s.participants).toEqual(['a', 'b']);
    expect(s.expiresAt).toBe(clock.time + 500);
    expect(() => manager.createSession('s1')).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
    expect(manager.getSession('s1')).toBe(s);
    expect(manager.getSession('nope')).toBeUndefined();
  });

  it('createSession refuses participants that are not an array (a bare string is not split into letters)', () => {
    const manager = new SessionManager();
    expect(() => manager.createSession('s1', { participants: 'alice' as unknown as string[] })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { participants: 'alice' } }),
    );
    expect(manager.sessionIds()).toEqual([]);
  });

  it('createSession refuses a createSession factory that returns a session with another id', () => {
    const manager = new SessionManager({ createSession: () => new SessionStateModule('other') });
    expect(() => manager.createSession('s1')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { sessionId: 's1', createdId: 'other' } }),
    );
    expect(manager.sessionIds()).toEqual([]);
  });

  it('ends, removes and finds sessions by status and participant', () => {
    const manager = new SessionManager();
    manager.createSession('s1', { participants: ['a'] });
    manager.createSession('s2', { participants: ['a', 'b'] });
    manager.createSession('s3');
    expect(manager.endSession('s2', 'bye')).toBe(true);
    expect(manager.endSession('nope')).toBe(false);
    expect(manager.sessionsByStatus('ended').map((s) => s.sessionId)).toEqual(['s2']);
    expect(manager.sessionsByStatus('active').map((s) => s.sessionId)).toEqual(['s1', 's3']);
    expect(manager.sessionsByParticipant('a').map((s) => s.sessionId)).toEqual(['s1', 's2']);
    expect(manager.removeSession('s3')).toBe(true);
    expect(manager.removeSession('s3')).toBe(false);
    expect(manager.sessionIds()).toEqual(['s1', 's2']);
  });

  it('cleanupExpired removes exactly the expired sessions, marking them expired', () => {
    const clock = new ManualClock();
    const manager = new SessionManager({ now: clock.now });
    const short = manager.createSession('short', { expiresInMs: 1000 });
    manager.createSession('long', { expiresInMs: 5000 });
    manager.createSession('forever');
    clock.advance(999);
    expect(manager.cleanupExpired()).toBe(0);
    clock.advance(1);
    expect(manager.cleanupExpired()).toBe(1);
    expect(short.status).toBe('expired');
    expect(manager.sessionIds()).toEqual(['long', 'forever']);
    clock.advance(10_000);
    expect(manager.cleanupExpired()).toBe(1);
    expect(manager.sessionIds()).toEqual(['forever']);
  });

  it('startCleanup runs cleanup on its interval until stopCleanup', () => {
    vi.useFakeTimers();
    const clock = new ManualClock();
    const manager = new SessionManager({ now: clock.now });
    manager.createSession('s', { expiresInMs: 100 });
    manager.startCleanup(1000);
    clock.advance(200);
    vi.advanceTimersByTime(1000);
    expect(manager.getSession('s')).toBeUndefined();
    manager.createSession('t', { expiresInMs: 100 });
    manager.stopCleanup();
    clock.advance(200);
    vi.advanceTimersByTime(5000);
    expect(manager.getSession('t')).toBeDefined();
    expect(() => manager.startCleanup(0)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('an error during periodic cleanup is reported and the timer keeps running', () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let fail = true;
    const clock = new ManualClock();
    const manager = new SessionManager({
      now: () => {
        if (fail) throw new Error('clock broke');
        return clock.time;
      },
      onCleanupError: (e) => errors.push(e),
    });
    manager.startCleanup(100);
    vi.advanceTimersByTime(100);
    expect(errors).toHaveLength(1);
    fail = false;
    vi.advanceTimersByTime(100);
    expect(errors).toHaveLength(1);
    manager.close();
  });

  it('reports a failing cleanup through onError', () => {
    vi.useFakeTimers();
    const reports: Array<[unknown, BackgroundErrorContext]> = [];
    let fail = true;
    const manager = new SessionManager({
      now: () => {
        if (fail) throw new Error('clock broke');
        return 0;
      },
      onError: (error, context) => reports.push([error, context]),
    });
    manager.startCleanup(100);
    vi.advanceTimersByTime(100);
    expect(reports).toHaveLength(1);
    expect((reports[0]![0] as Error).message).toBe('clock broke');
    expect(reports[0]![1]).toEqual({ source: 'SessionManager cleanup' });
    fail = false;
    manager.close();
  });

  it('the cleanup timer never keeps the process alive', () => {
    const entry = fileURLToPath(new URL('../../src/modules/index.ts', import.meta.url));
    const script = `import { SessionManager } from ${JSON.stringify(entry)};
      const m = new SessionManager(); m.createSession('s', { expiresInMs: 60000 }); m.startCleanup(1000);
      console.log('started');`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.stdout.trim()).toBe('started');
    expect(result.status).toBe(0);
  });

  it('metrics count sessions, messages and distinct participants', () => {
    const manager = new SessionManager();
    const a = manager.createSession('a', { participants: ['u1', 'u2'] });
    manager.createSession('b', { participants: ['u2'] }).pause();
    a.addMessage({ t: 1 }, 'u1');
    a.addMessage({ t: 2 }, 'u2');
    expect(manager.metrics()).toEqual({
      totalSessions: 2,
      byStatus: { active: 1, paused: 1, ended: 0, expired: 0 },
      totalMessages: 2,
      totalParticipants: 2,
      averageMessagesPerSession: 1,
    });
  });
});
