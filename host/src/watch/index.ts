// Public surface of the watch stage: the resilient watcher, the reflector that feeds a store, and backoff.

export { Backoff, type BackoffOptions } from './backoff.ts';
export { type Reflector, type ReflectorOptions, type ReflectorWriter, reflector } from './reflector.ts';
export {
  type WatchClient,
  type Watcher,
  type WatcherEvent,
  type WatcherOptions,
  type WatcherSpec,
  type WatcherStats,
  watcher,
} from './watcher.ts';
