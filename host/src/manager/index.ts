// Public surface of the manager folder: the WasmReconciler controller and the assembled host process.
export { type Condition, setCondition } from './conditions.ts';
export { type Host, type HostOptions, startHost } from './host.ts';
export { controllerConfig, WasmReconcilerManager, type WasmReconcilerManagerOptions } from './wasm-reconcilers.ts';
