// The persistence layer: routing rules over named backends, a cache, and the performance monitor.

export {
  type AccessInfo,
  type AccessTrackedStore,
  type AccessTrackingOptions,
  trackAccess,
} from './accessTracking.ts';
export {
  type CachedStore,
  type CachedStoreOptions,
  type CacheStatistics,
  createCachedStore,
} from './cachedStore.ts';
export {
  type BackendConfig,
  type CommonBackendConfig,
  checkPersistenceConfig,
  type EncryptionConfig,
  type KeySourceConfig,
  loadPersistenceConfig,
  type OpenRouterOptions,
  openBackend,
  openPersistenceRouter,
  type PersistenceConfig,
  readEncryptionKey,
} from './config.ts';
export {
  type BackendReport,
  type MonitorSample,
  PerformanceMonitor,
  type PerformanceMonitorOptions,
  type PerformanceReport,
  type Recommendation,
  type Trend,
} from './monitor.ts';
export { PersistenceRouter, type PersistenceRouterOptions, type Route } from './router.ts';
export type { PersistenceRule } from './rules.ts';
export { type WrappedStore, wrapStore } from './wrapStore.ts';
