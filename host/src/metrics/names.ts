// Every metric name and label the host exports, declared once (controller-runtime's metrics.go idea).
//
// Work-queue and reconcile names follow controller-runtime so existing dashboards and alerts apply;
// host-specific ones are prefixed `wasm_reconciler_`.

export const METRIC = {
  reconcileTotal: 'controller_runtime_reconcile_total',
  reconcileErrorsTotal: 'controller_runtime_reconcile_errors_total',
  reconcileTime: 'controller_runtime_reconcile_time_seconds',
  activeWorkers: 'controller_runtime_active_workers',
  queueDepth: 'workqueue_depth',
  queueAddsTotal: 'workqueue_adds_total',
  queueRetriesTotal: 'workqueue_retries_total',
  queueDropsTotal: 'wasm_reconciler_workqueue_drops_total',
  guestCallTime: 'wasm_reconciler_guest_call_seconds',
  guestFuelUsed: 'wasm_reconciler_guest_fuel_used',
  guestFailuresTotal: 'wasm_reconciler_guest_failures_total',
  guestWorkers: 'wasm_reconciler_guest_workers',
  guestWorkersReplacedTotal: 'wasm_reconciler_guest_workers_replaced_total',
  moduleSwapsTotal: 'wasm_reconciler_module_swaps_total',
  moduleLoadFailuresTotal: 'wasm_reconciler_module_load_failures_total',
  moduleGeneration: 'wasm_reconciler_module_generation',
  watchListsTotal: 'wasm_reconciler_watch_lists_total',
  watchReconnectsTotal: 'wasm_reconciler_watch_reconnects_total',
  watchEventsTotal: 'wasm_reconciler_watch_events_total',
  cacheObjects: 'wasm_reconciler_cache_objects',
  writesTotal: 'wasm_reconciler_api_writes_total',
  writesLastMinute: 'wasm_reconciler_api_writes_last_minute',
  unassignedPrimaries: 'wasm_reconciler_unassigned_primaries',
} as const;

export const LABEL = {
  controller: 'controller',
  result: 'result',
  code: 'code',
  kind: 'kind',
  verb: 'verb',
  name: 'name',
} as const;
