// The modules layer: StateModule, change tracking, agent and session state and their managers.

export { AgentStateManager, type AgentStateManagerOptions, type AgentSystemMetrics } from './agentManager.ts';
export {
  AGENT_STATUSES,
  type AgentMetrics,
  AgentStateModule,
  type AgentStateModuleOptions,
  type AgentStatus,
  type ConversationMessage,
} from './agentState.ts';
export type { StateAttributeOptions, StateValidator } from './attributeCheck.ts';
export {
  type HistoryFilter,
  type SnapshotInfo,
  type StateChange,
  StateChangeTracker,
  type StateChangeTrackerOptions,
  type TrackOptions,
} from './changeTracker.ts';
export type { SaveAllResult } from './moduleCollection.ts';
export {
  AGENT_MODULE_TYPE,
  type ModuleEnvelope,
  type ModuleTypeOptions,
  ModuleTypeRegistry,
  type ModuleTypeRegistryOptions,
  moduleTypes,
  registerModuleType,
  SESSION_MODULE_TYPE,
  type StateMigration,
  type StateModuleClass,
} from './moduleTypes.ts';
export {
  type CreateSessionOptions,
  SessionManager,
  type SessionManagerOptions,
  type SessionMetrics,
} from './sessionManager.ts';
export {
  type MessageQuery,
  SESSION_STATUSES,
  type SessionMessage,
  SessionStateModule,
  type SessionStateModuleOptions,
  type SessionStatus,
  type SessionSummary,
} from './sessionState.ts';
export { diffStates, type StateDifference } from './stateDiff.ts';
export {
  type ListenerErrorHandler,
  type LoadStateOptions,
  type PreparedStateLoad,
  type StateChangeListener,
  StateModule,
  type StateModuleOptions,
} from './stateModule.ts';
export {
  type LoadModuleOptions,
  type SaveStateOptions,
  type StateInfo,
  type StateInfoPage,
  StateRepository,
  type StateRepositoryOptions,
} from './stateRepository.ts';
