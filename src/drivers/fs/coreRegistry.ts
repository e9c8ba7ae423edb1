import { mkdir, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirectory } from '../../shared/atomicWrite.ts';
import { FsCore, type FsCoreOptions } from './core.ts';

// One core per real directory path in this process, shared by every handle on it; `closing` holds the
// directories whose last handle is closing, so a new handle waits for the lock to be released first.
const cores = new Map<string, Promise<FsCore>>();
const closing = new Map<string, Promise<void>>();

/** Opens (or joins) the core of a directory for one more handle. */
export async function retainCore(dir: string, options: FsCoreOptions): Promise<FsCore> {
  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined && options.durable) await fsyncDirectory(dirname(created));
  const key = await realpath(dir);
  for (;;) {
    const shutting = closing.get(key);
    if (shutting) {
      await shutting;
      continue;
    }
    let opening = cores.get(key);
    if (!opening) {
      opening = FsCore.open(key, options);
      cores.set(key, opening);
      opening.catch(() => {
        if (cores.get(key) === opening) cores.delete(key);
      });
    }
    const core = await opening;
    if (core.closed || closing.has(key)) continue;
    core.refs++;
    return core;
  }
}

/** Gives a handle's share of a core back; the last one closes it and unlocks the directory. */
export async function releaseCore(core: FsCore): Promise<void> {
  if (--core.refs > 0) return;
  cores.delete(core.dir);
  const done = core.close().finally(() => closing.delete(core.dir));
  closing.set(core.dir, done);
  await done;
}
