// Public surface of the cache: the indexed store, its reader, label selectors, transforms and the shared registry.

export { CachedObject } from './cached-object.ts';
export { lastFieldChange, SET_AT_CREATION } from './field-change.ts';
export type { Handler } from './internal/dispatcher.ts';
export {
  type LabelSelector,
  type LabelSelectorObject,
  labelSelectorFromObject,
  type Operator,
  parseLabelSelector,
  type Requirement,
} from './label-selector.ts';
export {
  type CacheEntryStats,
  type CacheHandle,
  type CacheSpec,
  ReflectorRegistry,
  type ReflectorRegistryOptions,
  type RegistryClient,
} from './registry.ts';
export {
  createStore,
  type Indexer,
  type ListQuery,
  type Resync,
  type Store,
  type StoreEvent,
  type StoreOptions,
  type StoreReader,
  type StoreWriter,
  type SubscribeOptions,
} from './store.ts';
export { LAST_APPLIED_ANNOTATION, stripBulkyFields, type Transform, withDefaultTransform } from './transform.ts';
