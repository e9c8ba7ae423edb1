/**
 * `agentstate/keyv`: a TtlStore (memory or Redis) as a Keyv storage adapter, so libraries built on Keyv
 * (cacheable, keyv-based rate limiters, ...) keep their data in agentstate.
 */

export { KeyvTtlAdapter, type KeyvTtlAdapterOptions, keyvTtlAdapter } from './ttl/keyv.ts';
