// How the executor names kinds: the primary's and the owned children's, with their scope.

import { WrError } from '../errors.ts';
import { groupOf } from './permissions.ts';

/** A kind as the host watches it; `namespaced` comes from discovery. */
export interface KindRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** The key of a kind in ReconcileInput.children/related: "apiVersion/kind" ("v1/ConfigMap", "apps/v1/Deployment"). */
export function kindKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

/** Identity across versions: the same object is served as apps/v1 and apps/v1beta2, so group + kind decide. */
export function groupKind(apiVersion: string, kind: string): string {
  return `${kind}.${groupOf(apiVersion)}`;
}

/** A child's identity across versions: "Kind.group/namespace/name". */
export function childKey(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
  return `${groupKind(apiVersion, kind)}/${namespace ?? ''}/${name}`;
}

/** Rejects owned kinds a Kubernetes owner reference cannot express, before anything runs. */
export function validateOwnedKinds(primary: KindRef, owns: readonly KindRef[]): void {
  const seen = new Set<string>();
  for (const owned of owns) {
    const gk = groupKind(owned.apiVersion, owned.kind);
    if (seen.has(gk)) throw new WrError('WR_SPEC_INVALID', `owned kind ${gk} is declared twice`);
    seen.add(gk);
    // Kubernetes treats a namespaced owner of a cluster-scoped object as unresolvable: the child would leak.
    if (primary.namespaced && !owned.namespaced) {
      throw new WrError(
        'WR_SPEC_INVALID',
        `${primary.kind} is namespaced and cannot own the cluster-scoped kind ${owned.kind}`,
      );
    }
  }
}
