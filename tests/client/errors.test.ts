import { describe, expect, it } from 'vitest';
import { throwIfError } from '../../src/client/transport.ts';
import {
  AgentStateError,
  AlreadyExistsError,
  BaseRevisionMismatchError,
  CapacityExceededError,
  ClosedError,
  CorruptStateError,
  type ErrorCode,
  errorForCode,
  InvalidInputError,
  NotFoundError,
  ParallelMergeConflictError,
  RevisionConflictError,
  TimeoutError,
  UnavailableError,
  UnknownKeyError,
  UnknownTypeError,
} from '../../src/errors.ts';

const thrownInProcess: AgentStateError[] = [
  new InvalidInputError('bad', { key: 'k' }),
  new NotFoundError('missing', { id: 'x' }),
  new AlreadyExistsError('taken', { id: 'x' }),
  new RevisionConflictError('stale', { expected: 1, actual: 2 }),
  new ParallelMergeConflictError('both wrote', { key: 'messages' }),
  new BaseRevisionMismatchError('different bases', { revisions: [1, 2] }),
  new UnknownKeyError('no such key', { key: 'nope' }),
  new UnknownTypeError('no such type', { type: 'Evil' }),
  new CorruptStateError('unreadable', { path: 'a.json' }),
  new CapacityExceededError('too big', { bytes: 10 }),
  new TimeoutError('slow', { timeoutMs: 5 }),
  new ClosedError('closed'),
  new UnavailableError('key k1 is not configured', { keyId: 'k1' }),
];

describe('errors rebuilt from their code', () => {
  it.each(thrownInProcess.map((error) => [error.code, error] as const))(
    '%s comes back from the server as the class thrown in-process',
    (_code, original) => {
      const body = JSON.parse(JSON.stringify({ error: original }));
      let rebuilt: unknown;
      try {
        throwIfError({ status: 409, headers: new Headers(), body });
      } catch (error) {
        rebuilt = error;
      }
      expect(rebuilt).toBeInstanceOf(original.constructor);
      expect(rebuilt).toMatchObject({
        code: original.code,
        message: original.message,
        name: original.name,
        details: { ...original.details, status: 409 },
      });
    },
  );

  it('codes without a subclass, and names of Object.prototype members, give the base class', () => {
    for (const code of ['UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL', 'toString', '__proto__'] as const) {
      // Codes the type does not allow, as a server or proxy could still send them.
      const error = errorForCode(code as string as ErrorCode, 'm');
      expect(error.constructor).toBe(AgentStateError);
      expect(error.code).toBe(code);
    }
  });
});
