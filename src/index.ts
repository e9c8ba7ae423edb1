// The package root: every public name is exported from here, one line per layer.

export * from './client/index.ts';
export * from './codec/index.ts';
export * from './context/index.ts';
export * from './drivers/index.ts';
export * from './errors.ts';
export * from './modules/index.ts';
export * from './operations/index.ts';
export * from './persistence/index.ts';
export * from './rollouts/index.ts';
export * from './server/index.ts';
export * from './state/index.ts';
export * from './ttl/index.ts';
