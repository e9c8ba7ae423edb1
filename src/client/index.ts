// AgentStateClient: the HTTP API as a typed client (a RolloutStore over HTTP).

export * from './agentStateClient.ts';
export * from './extras.ts';
export * from './transport.ts';
