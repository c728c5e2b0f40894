// The writes the executor needs from the Kubernetes API, as one small port the host implements on its client.
//
// Every method throws a WrError with a WR_KUBE_* code on failure (404 -> WR_KUBE_NOT_FOUND, 409 and failed
// preconditions -> WR_KUBE_CONFLICT, ...): the executor branches on those codes, never on messages.

import type { KubeObject } from '../abi/types.ts';

/** Addresses one object. `namespace` undefined means cluster-scoped. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name: string;
}

export interface ApplyOptions {
  /** Stable per reconciler, so field ownership survives restarts and module swaps. */
  readonly fieldManager: string;
  /** Take over fields another manager set: the reconciler's desired state is the source of truth. */
  readonly force: true;
}

export interface DeleteOptions {
  /** Precondition: delete only the object we observed, never a same-named successor. */
  readonly uid: string;
  readonly propagationPolicy: 'Background';
}

export interface ExecutorClient {
  /** A fresh read from the API server (not the cache); undefined when the object does not exist. */
  get(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** Server-side apply (PATCH application/apply-patch+yaml) of a whole object; returns what the server stored. */
  apply(object: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  /** Server-side apply on the status subresource; `object` carries apiVersion, kind, metadata.name and status. */
  applyStatus(object: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  delete(ref: ObjectRef, options: DeleteOptions): Promise<void>;
  /**
   * JSON merge patch of `{ metadata: { ...patch, resourceVersion } }`: the resourceVersion turns the patch
   * into a compare-and-swap, so replacing a whole list (finalizers) cannot drop a concurrent writer's entry.
   */
  patchMetadata(
    ref: ObjectRef,
    patch: Readonly<Record<string, unknown>>,
    options: { resourceVersion: string },
  ): Promise<KubeObject>;
  /** POST of a core/v1 Event into its metadata.namespace; may tell the name the API server gave it. */
  // biome-ignore lint/suspicious/noConfusingVoidType: implementations that tell no name return Promise<void>.
  createEvent(event: CoreEvent): Promise<{ readonly name?: string | undefined } | undefined | void>;
  /**
   * Merge patch of an existing Event's count and lastTimestamp: how repeats aggregate into one Event.
   * Optional: without it, repeats within the aggregation window are suppressed instead.
   */
  patchEvent?(
    ref: { readonly namespace: string; readonly name: string },
    patch: { readonly count: number; readonly lastTimestamp: string },
  ): Promise<void>;
}

/** The core/v1 Event body the executor creates; the API server fills in metadata.name from generateName. */
export interface CoreEvent {
  readonly apiVersion: 'v1';
  readonly kind: 'Event';
  /** `name` is set on Events as stored (the API server fills it in from generateName). */
  readonly metadata: { readonly generateName: string; readonly namespace: string; readonly name?: string };
  readonly involvedObject: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string | undefined;
    readonly resourceVersion?: string | undefined;
  };
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  readonly source: { readonly component: string };
  readonly reportingComponent: string;
  readonly reportingInstance?: string;
  readonly firstTimestamp: string;
  readonly lastTimestamp: string;
  readonly count: number;
}
