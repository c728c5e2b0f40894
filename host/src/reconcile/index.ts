// Public surface of the reconcile stage: the Reconciler contract, request snapshots and the worker.

export type { ChildReader, PrimaryReader, RelatedProvider, SnapshotInput } from './snapshot.ts';
export { buildRequest } from './snapshot.ts';
export type { Reconciler } from './types.ts';
export type { WorkerOptions, WorkResult } from './worker.ts';
export { clampRequeue, MAX_REQUEUE_AFTER_MS, MIN_REQUEUE_AFTER_MS, ReconcileWorker } from './worker.ts';
