// What the runtime needs from the rest of the host: a read-only object source and a logger.

import type { LabelSelector } from '../cache/label-selector.ts';

/** One object, addressed the way a guest asks for it through `get`. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  /** Absent for cluster-scoped kinds. */
  readonly namespace?: string;
  readonly name: string;
}

/** A set of objects of one kind, as a guest asks for it through `list`. */
export interface ListQuery {
  readonly apiVersion: string;
  readonly kind: string;
  /** Absent: all namespaces the module may read. */
  readonly namespace?: string;
  /** Parsed from the guest's `labelSelector` string (Kubernetes grammar); absent: every object. */
  readonly labelSelector?: LabelSelector;
}

/**
 * The cache as one module may see it, already scoped to its declared permissions. Results are the JSON
 * texts the cache holds, handed to the guest without re-serialising. Throws WrError WR_CAPABILITY_DENIED
 * for a request outside the module's permissions; the guest sees HOST_STATUS.DENIED.
 */
export interface ReadPort {
  get(ref: ObjectRef): string | undefined;
  /** `scanned`: the cached objects the lookup had to consider, which is what the guest pays for. */
  list(query: ListQuery): { readonly items: readonly string[]; readonly scanned: number };
}

/** The subset of pino's Logger the runtime writes guest logs to. */
export interface GuestLogger {
  trace(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  isLevelEnabled(level: string): boolean;
}

/** What each guest call reports, for metrics; called synchronously after the call, so keep it cheap. */
export interface CallObserver {
  onCall(event: CallEvent): void;
}

export interface CallEvent {
  readonly digest: string;
  readonly export: 'wr_init' | 'wr_reconcile' | 'wr_finalize';
  /** `ok`, or the error code the call failed with. */
  readonly outcome: string;
  /** Fuel consumed; equal to the budget when the budget ran out. */
  readonly fuelUsed: number;
  readonly durationMs: number;
}
