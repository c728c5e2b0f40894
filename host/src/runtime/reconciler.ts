// The engine's Reconciler backed by a module slot: requests become ABI input text, outputs come back validated.

import { EXPORTS } from '../abi/constants.ts';
import { encodeReconcileInput } from '../abi/encode.ts';
import type { ReconcileOutput, ReconcileRequest } from '../abi/types.ts';
import type { Reconciler } from '../reconcile/types.ts';
import type { ModuleSlot } from './slot.ts';

/**
 * Calls whichever module version is active in `slot` when each call starts. A guest-reported error is
 * returned as `output.error` for the engine to act on; failures of the call itself reject with WrError.
 */
export class GuestReconciler implements Reconciler {
  readonly #slot: ModuleSlot;

  constructor(slot: ModuleSlot) {
    this.#slot = slot;
  }

  reconcile(request: ReconcileRequest): Promise<ReconcileOutput> {
    return this.#slot.call(EXPORTS.reconcile, encodeReconcileInput(request));
  }

  /** A version without wr_finalize answers `{ finalizer: 'release' }`: it has nothing to clean up. */
  finalize(request: ReconcileRequest): Promise<ReconcileOutput> {
    return this.#slot.call(EXPORTS.finalize, encodeReconcileInput(request));
  }
}
