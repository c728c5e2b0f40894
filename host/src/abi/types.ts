// The JSON payloads of host ABI v1 as TypeScript types: what crosses the boundary in each direction.

import type { TRIGGER_REASONS } from './constants.ts';

export type TriggerReason = (typeof TRIGGER_REASONS)[number];

/** A Kubernetes object as JSON. The host never trusts guest-produced objects beyond this shape. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    ownerReferences?: OwnerReference[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Input of wr_reconcile / wr_finalize. Object values are passed through as the JSON the API served. */
export interface ReconcileInput {
  abi: number;
  trigger: { reason: TriggerReason; kind?: string; name?: string; namespace?: string };
  reconciler: { name: string; namespace?: string; generation?: number };
  /** The primary; on deletion the last state seen (a tombstone) with `deleted: true`. */
  primary: KubeObject;
  deleted: boolean;
  /** Owned children keyed "apiVersion/kind" (core kinds: "v1/ConfigMap"). */
  children: Record<string, KubeObject[]>;
  /** Declared related objects, keyed like children. */
  related: Record<string, KubeObject[]>;
}

/**
 * An object as the cache holds it: the JSON text the API served (after the cache's transform) plus a
 * lazy parse. The encoder splices `json` into a ReconcileInput without re-serialising; native code calls
 * `object()`.
 */
export interface ObjectView {
  readonly json: string;
  object(): KubeObject;
}

/**
 * The host-side form of ReconcileInput, before encoding: the same fields, with objects as cache views and
 * groups as maps. A native Reconciler receives it as is; the Wasm path encodes it (encode.ts).
 */
export interface ReconcileRequest {
  readonly trigger: Readonly<ReconcileInput['trigger']>;
  readonly reconciler: Readonly<ReconcileInput['reconciler']>;
  readonly primary: ObjectView;
  /** True when the primary is being deleted (deletionTimestamp set) or already gone (tombstone). */
  readonly deleted: boolean;
  /** Owned children keyed "apiVersion/kind". */
  readonly children: ReadonlyMap<string, readonly ObjectView[]>;
  /** Declared related objects keyed "apiVersion/kind". */
  readonly related: ReadonlyMap<string, readonly ObjectView[]>;
}

export interface GuestEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Output set through set_output. Absent fields mean "no opinion": the host changes nothing for them. */
export interface ReconcileOutput {
  /** The full desired set of owned children; omitted means "keep what exists", [] means "none". */
  children?: KubeObject[];
  /** Status to apply through the status subresource (observedGeneration is set by the host). */
  status?: Record<string, unknown>;
  events?: GuestEvent[];
  /** "ensure": keep the reconciler's finalizer on the primary; "release": remove it. */
  finalizer?: 'ensure' | 'release';
  requeueAfterMs?: number;
  error?: { message: string; retryable: boolean };
}

/** Input of wr_init. */
export interface InitInput {
  abi: number;
  reconciler: { name: string; namespace?: string };
  config: unknown;
}
