// Public surface of the Wasm runtime: load and validate modules, run guests, hot-swap versions.

export { type GuestCallExport, GuestInstance, type InstanceOptions } from './instance.ts';
export { type GuestReads, localReads } from './internal/reads.ts';
export { DEFAULT_RUNTIME_LIMITS, type LimitOverrides, type RuntimeLimits, resolveLimits } from './limits.ts';
export {
  type CompiledModule,
  compileModule,
  type LoadLimits,
  ModuleLoader,
  type ModuleLoaderOptions,
} from './loader.ts';
export type { CallEvent, CallObserver, GuestLogger, ListQuery, ObjectRef, ReadPort } from './ports.ts';
export { GuestReconciler } from './reconciler.ts';
export { type LoadResult, ModuleSlot, type SlotOptions, type VersionStats } from './slot.ts';
export { OffThreadCompiler, type OffThreadCompilerOptions } from './workers/compiler.ts';
export {
  GuestWorkerPool,
  type GuestWorkerPoolOptions,
  type PoolStats,
  RemoteInstance,
  sharedWorkerPool,
} from './workers/worker-pool.ts';
