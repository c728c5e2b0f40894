// The names a reconciler writes under (field manager, finalizer, event reporter), derived from its name alone.
//
// They must be stable across restarts and module versions: a field manager that changed with the version
// would orphan field ownership, and a finalizer that changed would never be released.

import { WrError } from '../errors.ts';

export interface ReconcilerNames {
  /** Server-side apply field manager: `wasm-reconciler/<name>`. */
  readonly fieldManager: string;
  /** Finalizer on primaries: `wasmreconciler.dev/<name>`. */
  readonly finalizer: string;
  /** Events' reportingComponent and source.component: `wasmreconciler.dev/<name>`. */
  readonly reportingController: string;
}

/** The name part of a Kubernetes qualified name (finalizers and reportingComponent must be qualified names). */
const QUALIFIED_NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const MAX_NAME_PART = 63;

export function reconcilerNames(name: string): ReconcilerNames {
  if (typeof name !== 'string' || name.length > MAX_NAME_PART || !QUALIFIED_NAME_PART.test(name)) {
    throw new WrError(
      'WR_SPEC_INVALID',
      `reconciler name must be 1-${MAX_NAME_PART} characters of [A-Za-z0-9-_.], starting and ending alphanumeric, to form its finalizer and field manager names`,
      { details: { name: String(name).slice(0, 300) } },
    );
  }
  return {
    fieldManager: `wasm-reconciler/${name}`,
    finalizer: `wasmreconciler.dev/${name}`,
    reportingController: `wasmreconciler.dev/${name}`,
  };
}
