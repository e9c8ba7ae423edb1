/**
 * Ids of rollouts (`ro-`), attempts (`at-`) and resources (`rs-`), as in the reference. Random, not
 * sequential, so ids from many processes never collide and leak nothing about volume.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
// Refilled in 4 KiB blocks: one randomBytes call per ~340 rollout ids instead of one per id.
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomId(length: number): string {
  if (poolOffset + length > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  let id = '';
  // 252 = 7 * 36: bytes >= 252 are skipped so every character is equally likely.
  while (id.length < length) {
    if (poolOffset >= pool.length) {
      pool = randomBytes(4096);
      poolOffset = 0;
    }
    const byte = pool[poolOffset++]!;
    if (byte < 252) id += ALPHABET[byte % 36];
  }
  return id;
}

/** A new rollout id: `ro-` and 12 random characters. */
export function newRolloutId(): string {
  return `ro-${randomId(12)}`;
}

/** A new attempt id: `at-` and 8 random characters (attempts are always looked up with their rollout). */
export function newAttemptId(): string {
  return `at-${randomId(8)}`;
}

/** A new resources id: `rs-` and 12 random characters. */
export function newResourcesId(): string {
  return `rs-${randomId(12)}`;
}
