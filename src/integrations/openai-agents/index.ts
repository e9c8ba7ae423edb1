// `agentstate/openai-agents`: OpenAI Agents SDK sessions on agentstate's drivers. Imported only through
// this subpath, so the package root never loads the optional `@openai/agents-core` peer.
export { AgentStateSession, type AgentStateSessionOptions } from './session.ts';
