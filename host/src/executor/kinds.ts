// How the executor names kinds: the primary's and the owned children's, with their scope.

import { WrError } from '../errors.ts';
import { groupKind, type KindRef } from '../kube/gvk.ts';

export { groupKind, type KindRef, kindKey } from '../kube/gvk.ts';

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
