// Builds the ReconcileRequest for one primary from cache readers, passing cached ObjectViews through untouched.
//
// The readers are ports: the host implements them on its store, tests on arrays. Nothing here parses or
// serialises children or related objects; the Wasm path splices their cached JSON into the guest input.

import type { KubeObject, ObjectView, ReconcileRequest } from '../abi/types.ts';
import { type KindRef, kindKey } from '../kube/gvk.ts';

export interface PrimaryReader {
  /** The primary as cached, or undefined once it is gone. `namespace` is undefined for cluster-scoped kinds. */
  get(namespace: string | undefined, name: string): ObjectView | undefined;
}

export interface ChildReader {
  /** Cached objects of `kind` whose controller owner reference carries `ownerUid`. */
  byOwner(ownerUid: string, kind: KindRef): readonly ObjectView[];
}

export interface RelatedProvider {
  /** Declared related objects for this primary, keyed "apiVersion/kind". */
  related(primary: KubeObject, view: ObjectView): ReadonlyMap<string, readonly ObjectView[]>;
}

export interface SnapshotInput {
  readonly trigger: ReconcileRequest['trigger'];
  readonly reconciler: ReconcileRequest['reconciler'];
  readonly primary: ObjectView;
  /** The parsed primary; the caller parsed it already to decide whether to reconcile at all. */
  readonly object: KubeObject;
  readonly owns: readonly KindRef[];
  readonly children: ChildReader;
  readonly related?: RelatedProvider | undefined;
}

const NO_RELATED: ReadonlyMap<string, readonly ObjectView[]> = new Map();

export function buildRequest(input: SnapshotInput): ReconcileRequest {
  const uid = input.object.metadata.uid ?? '';
  const children = new Map<string, readonly ObjectView[]>();
  // Every declared kind appears, empty or not, so a guest can tell "none exist" from "not declared".
  for (const kind of input.owns) {
    children.set(kindKey(kind.apiVersion, kind.kind), uid === '' ? [] : input.children.byOwner(uid, kind));
  }
  return {
    trigger: input.trigger,
    reconciler: input.reconciler,
    primary: input.primary,
    deleted: input.object.metadata.deletionTimestamp !== undefined,
    children,
    related: input.related?.related(input.object, input.primary) ?? NO_RELATED,
  };
}
