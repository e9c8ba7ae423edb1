/**
 * `StateChangeTracker`: records assignments of the modules registered with it, keeps named snapshots of
 * their state, restores them and diffs them (seed 004, section 2.2.4). Unlike the seed, history is a ring
 * buffer (the seed's `list.pop(0)` is O(n) per change), snapshots are per module (a snapshot of one
 * module can never be restored into another) and bounded, and a failed restore throws instead of
 * returning `false` after logging.
 */
import type { JsonValue } from '../codec/index.ts';
import { AlreadyExistsError, InvalidInputError, NotFoundError } from '../errors.ts';
import { diffEncodedStates, type StateDifference } from './stateDiff.ts';
import type { StateModule } from './stateModule.ts';

/** One recorded change. Values are the assigned references, not copies (snapshots are the copies). */
export interface StateChange {
  /** Id the module was registered under. */
  moduleId: string;
  /** The attribute assigned, or `'*'` for a snapshot restore. */
  attribute: string;
  /** Value before the assignment (for a restore: undefined). */
  oldValue: unknown;
  /** Value after the assignment (for a restore: the snapshot name). */
  newValue: unknown;
  /** When, in epoch ms of the tracker's clock. */
  timestamp: number;
  /** `change` for an assignment, `restore` for a snapshot restore. */
  type: 'change' | 'restore';
}

/** Options of `StateChangeTracker`. */
export interface StateChangeTrackerOptions {
  /** Most changes kept, oldest dropped first (default 1000). */
  maxHistory?: number;
  /** Most snapshots kept per module, oldest dropped first (default 100). */
  maxSnapshotsPerModule?: number;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
}

/** Filter of `history()`. */
export interface HistoryFilter {
  /** Only changes of this module. */
  moduleId?: string;
  /** Only changes of this attribute. */
  attribute?: string;
  /** Only the most recent `limit` matching changes. */
  limit?: number;
}

/** Options of `register`. */
export interface TrackOptions {
  /** Take a snapshot named `initial` right away (default true). */
  initialSnapshot?: boolean;
}

/** A snapshot's name and when it was taken. */
export interface SnapshotInfo {
  /** Name given to `createSnapshot` (or generated). */
  name: string;
  /** Epoch ms of the tracker's clock. */
  createdAt: number;
}

interface Snapshot {
  readonly state: JsonValue;
  readonly createdAt: number;
}

interface Tracked {
  readonly module: StateModule;
  readonly unsubscribe: () => void;
  readonly snapshots: Map<string, Snapshot>;
}

/** Tracks changes and snapshots of many modules, each under an id. */
export class StateChangeTracker {
  readonly #modules = new Map<string, Tracked>();
  readonly #ring: Array<StateChange | undefined>;
  #start = 0;
  #size = 0;
  #sequence = 0;
  readonly #maxSnapshots: number;
  readonly #now: () => number;

  constructor(options: StateChangeTrackerOptions = {}) {
    const maxHistory = positiveInteger(options.maxHistory ?? 1000, 'maxHistory');
    this.#maxSnapshots = positiveInteger(options.maxSnapshotsPerModule ?? 100, 'maxSnapshotsPerModule');
    this.#ring = new Array(maxHistory);
    this.#now = options.now ?? Date.now;
  }

  /** Starts tracking `module` under `moduleId` (which must be free). */
  register(moduleId: string, module: StateModule, options: TrackOptions = {}): void {
    if (this.#modules.has(moduleId)) {
      throw new AlreadyExistsError(`module '${moduleId}' is already tracked`, { moduleId });
    }
    // The initial snapshot is taken first: a state the codec refuses must leave the module untracked,
    // not subscribed and listed with no snapshot (a retry would then be ALREADY_EXISTS).
    const snapshots = new Map<string, Snapshot>();
    if (options.initialSnapshot ?? true) {
      snapshots.set('initial', { state: module.encodedStateDict(), createdAt: this.#now() });
    }
    const unsubscribe = module.onStateChange('*', (attribute, oldValue, newValue) =>
      this.#record({ moduleId, attribute, oldValue, newValue, timestamp: this.#now(), type: 'change' }),
    );
    this.#modules.set(moduleId, { module, unsubscribe, snapshots });
  }

  /** Stops tracking a module and drops its snapshots; false when it was not tracked. */
  unregister(moduleId: string): boolean {
    const tracked = this.#modules.get(moduleId);
    if (!tracked) return false;
    tracked.unsubscribe();
    this.#modules.delete(moduleId);
    return true;
  }

  /** Whether a module is tracked under this id. */
  has(moduleId: string): boolean {
    return this.#modules.has(moduleId);
  }

  /** Recorded changes, oldest first, filtered; at most `maxHistory` are ever kept. */
  history(filter: HistoryFilter = {}): StateChange[] {
    const out: StateChange[] = [];
    for (let i = 0; i < this.#size; i++) {
      const change = this.#ring[(this.#start + i) % this.#ring.length]!;
      if (filter.moduleId !== undefined && change.moduleId !== filter.moduleId) continue;
      if (filter.attribute !== undefined && change.attribute !== filter.attribute) continue;
      out.push(change);
    }
    if (filter.limit !== undefined) {
      const limit = Math.max(0, Math.floor(filter.limit));
      return limit === 0 ? [] : out.slice(-limit);
    }
    return out;
  }

  /** Forgets every recorded change. */
  clearHistory(): void {
    this.#ring.fill(undefined);
    this.#start = 0;
    this.#size = 0;
  }

  /** Saves a copy of the module's state under `name` (replacing one of the same name); returns the name. */
  createSnapshot(moduleId: string, name?: string): string {
    const tracked = this.#get(moduleId);
    const createdAt = this.#now();
    const snapshotName = name ?? `${new Date(createdAt).toISOString()}#${++this.#sequence}`;
    const state = tracked.module.encodedStateDict();
    tracked.snapshots.delete(snapshotName);
    tracked.snapshots.set(snapshotName, { state, createdAt });
    if (tracked.snapshots.size > this.#maxSnapshots) {
      tracked.snapshots.delete(tracked.snapshots.keys().next().value!);
    }
    return snapshotName;
  }

  /** Loads a snapshot back into its module (strict, all-or-nothing); records a `restore` change. */
  restoreSnapshot(moduleId: string, name: string): void {
    this.prepareRestore(moduleId, name).commit();
  }

  /** Checks a restore without applying it; `commit()` applies. Used to restore many modules at once. */
  prepareRestore(moduleId: string, name: string): { commit(): void } {
    const tracked = this.#get(moduleId);
    const snapshot = this.#snapshot(tracked, moduleId, name);
    // The decoded snapshot is a fresh object nobody else holds, so the load need not copy it again.
    const state = tracked.module.stateCodec().decode(snapshot.state);
    const prepared = tracked.module.prepareStateLoad(state, { copy: false });
    return {
      commit: () => {
        prepared.commit();
        this.#record({
          moduleId,
          attribute: '*',
          oldValue: undefined,
          newValue: name,
          timestamp: this.#now(),
          type: 'restore',
        });
      },
    };
  }

  /** Snapshots of a module, oldest first. */
  snapshots(moduleId: string): SnapshotInfo[] {
    return [...this.#get(moduleId).snapshots].map(([name, s]) => ({ name, createdAt: s.createdAt }));
  }

  /** Deletes a snapshot; false when there was none of that name. */
  deleteSnapshot(moduleId: string, name: string): boolean {
    return this.#get(moduleId).snapshots.delete(name);
  }

  /** Differences from snapshot `from` to snapshot `to` (or, when `to` is omitted, the current state). */
  diff(moduleId: string, from: string, to?: string): StateDifference[] {
    const tracked = this.#get(moduleId);
    const codec = tracked.module.stateCodec();
    const before = this.#snapshot(tracked, moduleId, from).state;
    const after =
      to === undefined ? tracked.module.encodedStateDict() : this.#snapshot(tracked, moduleId, to).state;
    return diffEncodedStates(before, after, codec);
  }

  #get(moduleId: string): Tracked {
    const tracked = this.#modules.get(moduleId);
    if (!tracked) throw new NotFoundError(`module '${moduleId}' is not tracked`, { moduleId });
    return tracked;
  }

  #snapshot(tracked: Tracked, moduleId: string, name: string): Snapshot {
    const snapshot = tracked.snapshots.get(name);
    if (!snapshot) {
      throw new NotFoundError(`module '${moduleId}' has no snapshot '${name}'`, {
        moduleId,
        snapshot: name,
        available: [...tracked.snapshots.keys()],
      });
    }
    return snapshot;
  }

  // Ring buffer: O(1) per change however long the history is.
  #record(change: StateChange): void {
    const capacity = this.#ring.length;
    if (this.#size < capacity) {
      this.#ring[(this.#start + this.#size) % capacity] = change;
      this.#size++;
    } else {
      this.#ring[this.#start] = change;
      this.#start = (this.#start + 1) % capacity;
    }
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError(`${name} must be a positive integer, got ${String(value)}`, {
      [name]: value,
    });
  }
  return value;
}
