// Binary-level WebAssembly tooling: inspect untrusted guest modules, cap their memory, meter their fuel.

export { inspectModule } from './inspect.ts';
export { instrumentModule } from './instrument.ts';
export type {
  ExternKind,
  FuncType,
  InstrumentOptions,
  InstrumentResult,
  MemoryInfo,
  ModuleInfo,
  ValType,
} from './types.ts';
