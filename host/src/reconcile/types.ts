// The one interface between the engine and reconcile logic, Wasm-hosted or native TypeScript.

import type { ReconcileOutput, ReconcileRequest } from '../abi/types.ts';

/** Reconcile logic. Throws a WrError for failures of the call itself (trap, budget, bad output). */
export interface Reconciler {
  reconcile(request: ReconcileRequest): Promise<ReconcileOutput>;
  /** Called instead of reconcile when the primary is being deleted; absent means "nothing to clean up". */
  finalize?(request: ReconcileRequest): Promise<ReconcileOutput>;
}
