// The one interface between the engine and reconcile logic, Wasm-hosted or native TypeScript.

import type { GuestEvent, KubeObject, ReconcileOutput, TriggerReason } from '../abi/types.ts';

/**
 * An object as the cache holds it: the JSON text the API served (after the cache's transform) plus a
 * lazy parse. The Wasm path splices `json` into its input without re-serialising; native code calls
 * `object()`.
 */
export interface ObjectView {
  readonly json: string;
  object(): KubeObject;
}

export interface ReconcileRequest {
  readonly trigger: { reason: TriggerReason; kind?: string; name?: string; namespace?: string };
  readonly reconciler: { name: string; namespace?: string; generation?: number };
  readonly primary: ObjectView;
  /** True when the primary is being deleted (deletionTimestamp set) or already gone (tombstone). */
  readonly deleted: boolean;
  /** Owned children keyed "apiVersion/kind". */
  readonly children: ReadonlyMap<string, readonly ObjectView[]>;
  /** Declared related objects keyed "apiVersion/kind". */
  readonly related: ReadonlyMap<string, readonly ObjectView[]>;
}

/** Reconcile logic. Throws a WrError for failures of the call itself (trap, budget, bad output). */
export interface Reconciler {
  reconcile(request: ReconcileRequest): Promise<ReconcileOutput>;
  /** Called instead of reconcile when the primary is being deleted; absent means "nothing to clean up". */
  finalize?(request: ReconcileRequest): Promise<ReconcileOutput>;
}

export type { GuestEvent, KubeObject, ReconcileOutput };
