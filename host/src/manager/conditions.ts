// The WasmReconciler's conditions (Ready, ModuleLoaded, Degraded), as a pure function of what the manager knows,
// and metav1.Condition upkeep: lastTransitionTime moves only when a condition's status changes.
//
// docs/operations.md, "Conditions", is the table this file implements; conditions.test.ts walks it row by row.

import { kubeTime } from '../kube/time.ts';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number | undefined;
  lastTransitionTime?: string;
}

/** Returns a new list with `next` set; an unchanged status keeps its transition time, so status stays stable. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: () => Date = () => new Date(),
): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    existing?.status === next.status && existing.lastTransitionTime !== undefined
      ? existing.lastTransitionTime
      : kubeTime(now().getTime());
  const updated: Condition = { ...next, lastTransitionTime };
  if (updated.observedGeneration === undefined) delete updated.observedGeneration;
  // By code unit, not localeCompare: the order must not depend on the locale, and the first collation
  // loads ICU's collator (about 5 ms of CPU and 2 MB of RSS in a host that otherwise never touches ICU).
  return [...conditions.filter((c) => c.type !== next.type), updated].sort((a, b) =>
    a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
}

/** What the manager knows when it reports a WasmReconciler. */
export interface ReconcilerState {
  readonly generation: number | undefined;
  /** The digest that serves, if any. */
  readonly serving: string | undefined;
  readonly suspended: boolean;
  /** Why the latest spec is not what runs; undefined when it is. */
  readonly failure?:
    | {
        /** The condition reason: SpecInvalid, ModuleRejected, Conflict, KindNotServed, Forbidden, ControllerFailed. */
        readonly reason: string;
        /** `<CODE>: <message>`, at most 1024 characters. */
        readonly message: string;
        /** The module loaded but the controller did not start (or refused the spec). */
        readonly controller: boolean;
      }
    | undefined;
}

/**
 * The conditions after reporting `state` over `previous`. What a failure does not concern is left as it was:
 * a refused new version leaves Ready alone while the old one serves; a controller failure leaves ModuleLoaded.
 */
export function reconcilerConditions(
  previous: readonly Condition[],
  state: ReconcilerState,
  now: () => Date = () => new Date(),
): Condition[] {
  const observedGeneration = state.generation;
  let conditions = [...previous];
  const set = (type: string, status: Condition['status'], reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration }, now);
  };
  const failure = state.failure;
  if (failure === undefined) {
    set('ModuleLoaded', 'True', 'Loaded', `serving ${state.serving}`);
    set('Degraded', 'False', 'AsExpected', '');
    if (state.suspended) set('Ready', 'False', 'Suspended', 'spec.suspend is true: intake paused');
    else set('Ready', 'True', 'Reconciling', '');
  } else if (failure.controller) {
    // The module loaded but nothing reconciles: not Ready, and Degraded says why.
    set('Ready', 'False', failure.reason, failure.message);
    set('Degraded', 'True', failure.reason, failure.message);
  } else if (state.serving !== undefined) {
    // The last good version keeps serving: Ready stays as it was, Degraded says why the new one was refused.
    set('Degraded', 'True', failure.reason, failure.message);
  } else {
    set('Ready', 'False', failure.reason, failure.message);
    set('ModuleLoaded', 'False', failure.reason, failure.message);
  }
  return conditions;
}
