// Public surface of the module cache: the content-addressed disk store and the cache-first resolver.

export type { ModuleResolverOptions, ResolvedModule, ResolveOptions } from './resolver.ts';
export { ModuleResolver } from './resolver.ts';
export type { ModuleStoreOptions, StoreEvent, StoreUsage } from './store.ts';
export { ModuleStore } from './store.ts';
