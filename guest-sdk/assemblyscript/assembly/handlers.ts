// The guest's registered handlers: set once at module start, called by the wr_* exports.

import { Context, InitContext } from "./context";

export type ReconcileFn = (ctx: Context) => void;
export type InitFn = (init: InitContext) => void;

export let reconcileHandler: ReconcileFn | null = null;
export let finalizeHandler: ReconcileFn | null = null;
export let initHandler: InitFn | null = null;

/** Registers the reconcile handler; call once at the top level of the module's entry file. */
export function register(reconcile: ReconcileFn): void {
  reconcileHandler = reconcile;
}

/** Registers cleanup for a primary being deleted; export wr_finalize (assembly/finalize) to receive it. */
export function registerFinalize(finalize: ReconcileFn): void {
  finalizeHandler = finalize;
}

/** Registers a config check / setup step run by wr_init before the module serves. */
export function registerInit(init: InitFn): void {
  initHandler = init;
}
