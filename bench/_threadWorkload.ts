/**
 * The long-thread workload of the targets, shared by `bench state` and `bench langgraph`: a
 * thread of STEPS steps whose state is CHANNELS channels of CHANNEL_BYTES each (50 KB in all), one
 * channel changed per step, driven the way LangGraph's Pregel loop drives a checkpointer.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BaseCheckpointSaver,
  type Checkpoint,
  emptyCheckpoint,
  uuid6,
} from '@langchain/langgraph-checkpoint';

export const STEPS = 1000;
export const CHANNELS = 10;
export const CHANNEL_BYTES = 5_000;

/** The value of channel `c` at step `step`: CHANNEL_BYTES of text that differ from step to step. */
export function channelValue(c: number, step: number): string {
  const head = `channel ${c} at step ${step}: `;
  return head + 'x'.repeat(CHANNEL_BYTES - head.length);
}

/** What the workload's puts need of a saver (bench/_postgresFloor.ts has only this). */
export type PutOnlySaver = Pick<BaseCheckpointSaver<number | string>, 'put' | 'getNextVersion'>;

/** A thread of the workload on a LangGraph saver: `step()` puts the next checkpoint, as Pregel does. */
export class SaverThread<S extends PutOnlySaver = BaseCheckpointSaver> {
  readonly saver: S;
  readonly threadId: string;
  #config: { configurable: Record<string, string> };
  #checkpoint: Checkpoint;
  #step = 0;

  constructor(saver: S, threadId = 'bench') {
    this.saver = saver;
    this.threadId = threadId;
    this.#config = { configurable: { thread_id: threadId, checkpoint_ns: '' } };
    this.#checkpoint = emptyCheckpoint();
  }

  /** Puts the first checkpoint with every channel (all of them new). */
  async start(): Promise<void> {
    const changes: Record<string, unknown> = {};
    for (let c = 0; c < CHANNELS; c++) changes[`c${c}`] = channelValue(c, 0);
    await this.#put(changes);
  }

  /** One step: one channel changed. */
  step(): Promise<void> {
    const c = this.#step % CHANNELS;
    return this.#put({ [`c${c}`]: channelValue(c, this.#step) });
  }

  async #put(changes: Record<string, unknown>): Promise<void> {
    const next: Checkpoint = {
      ...this.#checkpoint,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { ...this.#checkpoint.channel_values, ...changes },
      channel_versions: { ...this.#checkpoint.channel_versions },
      versions_seen: { node: { ...this.#checkpoint.channel_versions } },
    };
    const newVersions: Record<string, number | string> = {};
    for (const k of Object.keys(changes)) {
      // As Pregel does: the checkpointer names each new version (`getNextVersion`).
      const v = this.saver.getNextVersion(next.channel_versions[k] as number | undefined);
      next.channel_versions[k] = v;
      newVersions[k] = v;
    }
    this.#step++;
    this.#config = (await this.saver.put(
      this.#config,
      next,
      { source: 'loop', step: this.#step, parents: {} },
      newVersions,
    )) as { configurable: Record<string, string> };
    this.#checkpoint = next;
  }

  /** The latest checkpoint of the thread, read back. */
  latest(this: SaverThread<BaseCheckpointSaver>) {
    return this.saver.getTuple({ configurable: { thread_id: this.threadId, checkpoint_ns: '' } });
  }
}

/** A fresh temporary directory and its removal. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `agentstate-bench-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Bytes of every file in a directory (a SQLite database with its -wal and -shm files). */
export async function bytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}
