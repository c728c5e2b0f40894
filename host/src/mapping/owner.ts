// Owned children to their controlling owner's key, guarded against owners deleted and re-created.
//
// An ownerReference names its owner by name and UID. The name alone confuses incarnations: once an owner
// is deleted and re-created under the same name, children of the old one (waiting for garbage
// collection) would wake the new one on every change. So the UID decides whenever the cache knows it.

import type { KubeObject, OwnerReference } from '../abi/types.ts';
import { groupOf } from '../kube/gvk.ts';
import { objectKey } from './event.ts';

/** The primary kind children are mapped to. Versions are ignored: an owner is named by group and kind. */
export interface OwnerKind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** Answers from the primary cache; both return undefined for what the cache does not hold. */
export interface OwnerLookup {
  keyForUid(uid: string): string | undefined;
  uidForKey(key: string): string | undefined;
}

export interface ChildMapping {
  readonly key: string;
  /** The child points at a previous incarnation of the object now cached under `key`. */
  readonly stale: boolean;
}

/**
 * The controlling owner of `child` when it is of kind `owner`, else undefined. Resolution order: the UID
 * as the cache knows it (exact), then namespace/name unless the cache holds that name under another UID
 * (then the mapping is marked stale). A name the cache does not hold yet is trusted: the child's reflector
 * may simply be ahead of the primary's.
 */
export function controllerOwner(child: KubeObject, owner: OwnerKind, lookup?: OwnerLookup): ChildMapping | undefined {
  const ref = controllerRef(child, owner);
  if (ref === undefined) return undefined;
  const byUid = lookup?.keyForUid(ref.uid);
  if (byUid !== undefined) return { key: byUid, stale: false };
  const namespace = child.metadata.namespace;
  // Owner references never cross namespaces; a cluster-scoped child cannot have a namespaced owner.
  if (owner.namespaced && (namespace === undefined || namespace === '')) return undefined;
  const key = objectKey(owner.namespaced ? namespace : undefined, ref.name);
  const cachedUid = lookup?.uidForKey(key);
  return { key, stale: cachedUid !== undefined && cachedUid !== ref.uid };
}

function controllerRef(child: KubeObject, owner: OwnerKind): OwnerReference | undefined {
  const group = groupOf(owner.apiVersion);
  for (const ref of child.metadata.ownerReferences ?? []) {
    if (ref.controller === true) {
      return ref.kind === owner.kind && groupOf(ref.apiVersion) === group ? ref : undefined;
    }
  }
  return undefined;
}
