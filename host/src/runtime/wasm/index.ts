// Binary-level WebAssembly tooling: inspect untrusted guest modules, cap their memory, meter their fuel.

export { inspectModule } from './inspect.ts';
export { instrumentModule, instrumentModuleBesideV8, NAME_SECTION_MAX_BYTES } from './instrument.ts';
export { DEPTH_BUDGET } from './internal/frames.ts';
export { DEFAULT_MODULE_LIMITS, MODULE_LIMIT_KEYS, pickModuleLimits } from './limits.ts';
export type {
  ExternKind,
  FuncType,
  InstrumentOptions,
  InstrumentResult,
  MemoryInfo,
  ModuleInfo,
  ModuleLimits,
  TableInfo,
  ValType,
} from './types.ts';
