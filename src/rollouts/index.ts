// The rollout store: Agent Lightning's LightningStore on memory, SQLite (and PostgreSQL in ./postgres/).

export * from './types.ts';
