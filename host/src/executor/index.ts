// Public surface of the executor: turning reconcile outputs into checked, idempotent API writes.

export { groupOf } from '../kube/gvk.ts';
export type { EventBroadcasterOptions, EventBroadcasterStats, RecordResult } from './event-broadcaster.ts';
export { EventBroadcaster } from './event-broadcaster.ts';
export type { EventRecorderOptions, EventTally } from './events.ts';
export { EventRecorder } from './events.ts';
export type { ExecutionSummary, ExecutorLimits, ExecutorLogger, ExecutorOptions } from './executor.ts';
export { DEFAULT_EXECUTOR_LIMITS, Executor } from './executor.ts';
export type { FinalizerChange } from './finalizers.ts';
export { FINALIZER_ATTEMPTS, updateFinalizer } from './finalizers.ts';
export type { ObservedChild } from './internal/observed.ts';
export type { KindRef } from './kinds.ts';
export { groupKind, kindKey, validateOwnedKinds } from './kinds.ts';
export { kubeExecutorClient } from './kube-client-port.ts';
export type { ReconcilerNames } from './names.ts';
export { reconcilerNames } from './names.ts';
export type { CapabilityChecker, CapabilityTarget, PermissionRule, Permissions, Verb } from './permissions.ts';
export { compilePermissions, VERBS } from './permissions.ts';
export type { ChildDelete, ChildWrite, DeniedAction, Plan, PlanContext, PlanLimits } from './plan.ts';
export { planOutput } from './plan.ts';
export type { ApplyOptions, CoreEvent, DeleteOptions, ExecutorClient, ObjectRef } from './ports.ts';
