/**
 * `AgentStateManager`: the agents of a process (seed 004, section 3.2), with change tracking, global
 * snapshots, system metrics and persistence to any `DocumentStore` (namespace `agents` by default).
 */
import type { DocumentStore } from '../drivers/index.ts';
import { AlreadyExistsError, InvalidInputError } from '../errors.ts';
import { AGENT_STATUSES, AgentStateModule, type AgentStatus } from './agentState.ts';
import { StateChangeTracker, type StateChangeTrackerOptions } from './changeTracker.ts';
import { requireModuleId } from './checks.ts';
import { ModuleCollection, type SaveAllResult } from './moduleCollection.ts';
import { type ModuleTypeRegistry, moduleTypes } from './moduleTypes.ts';
import type { LoadStateOptions } from './stateModule.ts';
import { managerRepository, type StateRepository } from './stateRepository.ts';

/** Options of `AgentStateManager`. */
export interface AgentStateManagerOptions {
  /** Where `saveAll`/`loadAll` keep the agents (through a `StateRepository` with `types`). */
  store?: DocumentStore;
  /** The repository to save and load through, instead of `store`. */
  repository?: StateRepository;
  /** Namespace of the agent documents (default `agents`). */
  namespace?: string;
  /** Module types allowed when loading (default: the default registry). */
  types?: ModuleTypeRegistry;
  /** Clock in epoch ms given to every agent (default `Date.now`). */
  now?: () => number;
  /** Makes the module of a new agent (default `new AgentStateModule(id, { now })`); its class must be registered. */
  createAgent?: (agentId: string) => AgentStateModule;
  /** Options of the change tracker. */
  tracker?: StateChangeTrackerOptions;
}

/** Counts over all agents. */
export interface AgentSystemMetrics {
  /** Agents managed. */
  totalAgents: number;
  /** Agents per status. */
  byStatus: Record<AgentStatus, number>;
  /** Conversation messages ever added, over all agents. */
  totalMessages: number;
  /** Successful tasks over all agents. */
  successfulTasks: number;
  /** Failed tasks over all agents. */
  failedTasks: number;
  /** successful / (successful + failed), 0 when none. */
  overallSuccessRate: number;
}

/** Manages many agents' state: create, find, track, snapshot, save and load. */
export class AgentStateManager {
  /** Records changes and keeps snapshots of every managed agent. */
  readonly tracker: StateChangeTracker;
  readonly #agents: ModuleCollection<AgentStateModule>;
  readonly #now: () => number;
  readonly #create: (agentId: string) => AgentStateModule;
  #globalSequence = 0;

  constructor(options: AgentStateManagerOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#create = options.createAgent ?? ((agentId) => new AgentStateModule(agentId, { now: this.#now }));
    this.tracker = new StateChangeTracker({ now: this.#now, ...options.tracker });
    this.#agents = new ModuleCollection<AgentStateModule>({
      repository: managerRepository(options),
      namespace: options.namespace ?? 'agents',
      types: options.types ?? moduleTypes,
      expected: AgentStateModule,
      label: 'agent',
      idOf: (agent) => agent.agentId,
      onAdd: (id, agent) => {
        agent.clock = this.#now;
        // No initial snapshot per agent: it would double the memory of every agent for a feature
        // (restore to creation) that createGlobalSnapshot covers on demand.
        this.tracker.register(id, agent, { initialSnapshot: false });
      },
      onRemove: (id) => {
        this.tracker.unregister(id);
      },
    });
  }

  /** Creates the state of a new agent. A taken id throws `ALREADY_EXISTS`. */
  createAgent(agentId: string): AgentStateModule {
    requireModuleId(agentId, 'agentId');
    if (this.#agents.has(agentId)) {
      throw new AlreadyExistsError(`agent '${agentId}' already exists`, { agentId });
    }
    const agent = this.#create(agentId);
    // Caught here: an agent kept under one id but carrying another would make every later saveAll fail.
    if (agent.agentId !== agentId) {
      throw new InvalidInputError(
        `createAgent('${agentId}'): the createAgent option returned an agent with id '${agent.agentId}'`,
        { agentId, createdId: agent.agentId },
      );
    }
    this.#agents.add(agentId, agent);
    return agent;
  }

  /** The agent's state, or undefined. */
  getAgent(agentId: string): AgentStateModule | undefined {
    return this.#agents.get(agentId);
  }

  /** Removes an agent (its document goes at the next `saveAll`); false when unknown. */
  removeAgent(agentId: string): boolean {
    return this.#agents.remove(agentId);
  }

  /** Every agent, in creation (or load) order. */
  listAgents(): AgentStateModule[] {
    return this.#agents.values();
  }

  /** Every agent id. */
  agentIds(): string[] {
    return this.#agents.ids();
  }

  /** Agents with this status. */
  agentsByStatus(status: AgentStatus): AgentStateModule[] {
    return this.#agents.values().filter((agent) => agent.status === status);
  }

  /** Writes every agent (and deletes removed ones) in one atomic batch. */
  saveAll(): Promise<SaveAllResult> {
    return this.#agents.saveAll();
  }

  /** Replaces the agents in memory with the saved ones (all or nothing); returns how many. */
  loadAll(options: LoadStateOptions = {}): Promise<number> {
    return this.#agents.loadAll(options);
  }

  /** Snapshots every agent under one name; returns it. */
  createGlobalSnapshot(name?: string): string {
    // The sequence number keeps two snapshots of one millisecond from sharing a name (the second would
    // silently replace the first).
    const snapshotName = name ?? `global@${new Date(this.#now()).toISOString()}#${++this.#globalSequence}`;
    for (const id of this.#agents.ids()) this.tracker.createSnapshot(id, snapshotName);
    return snapshotName;
  }

  /**
   * Restores every agent that has the snapshot `name`. All restores are checked before any is applied, so
   * either every agent goes back or none does. Returns how many were restored.
   */
  restoreGlobalSnapshot(name: string): number {
    const prepared = this.#agents
      .ids()
      .filter((id) => this.tracker.snapshots(id).some((s) => s.name === name))
      .map((id) => this.tracker.prepareRestore(id, name));
    for (const restore of prepared) restore.commit();
    return prepared.length;
  }

  /** Counts over all agents. */
  systemMetrics(): AgentSystemMetrics {
    const byStatus = Object.fromEntries(AGENT_STATUSES.map((s) => [s, 0])) as Record<AgentStatus, number>;
    let totalMessages = 0;
    let successfulTasks = 0;
    let failedTasks = 0;
    for (const agent of this.#agents.values()) {
      byStatus[agent.status]++;
      totalMessages += agent.metrics.totalMessages;
      successfulTasks += agent.metrics.successfulTasks;
      failedTasks += agent.metrics.failedTasks;
    }
    const completed = successfulTasks + failedTasks;
    return {
      totalAgents: this.#agents.size,
      byStatus,
      totalMessages,
      successfulTasks,
      failedTasks,
      overallSuccessRate: completed > 0 ? successfulTasks / completed : 0,
    };
  }
}
