// Public surface of module intake: the WasmReconciler spec, module sources and the module cache.

export * from './sources/index.ts';
export * from './spec.ts';
export * from './store/index.ts';
