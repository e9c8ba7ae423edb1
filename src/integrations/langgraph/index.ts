// `agentstate/langgraph`: LangGraph.js checkpointer and long-term store on agentstate's drivers.
// Imported only through this subpath, so the package root never loads the optional LangGraph peers.
export {
  AgentStateSaver,
  type AgentStateSaverOptions,
  type PruneOptions,
  type PruneReport,
} from './saver.ts';
export { AgentStateStore, type AgentStateStoreOptions } from './store.ts';
