// Rendezvous (highest-random-weight) hashing: the member that owns a key, so a membership change moves only the keys of the member that came or went.
//
// Each (member, key) pair gets a pseudo-random weight and the key goes to the heaviest member. Adding a
// member takes from every other member the keys it now outweighs (about 1/N of them); removing one hands
// each of its keys to the runner-up. No ring, no virtual nodes, nothing to keep in step between replicas.

import { createHash } from 'node:crypto';
import type { KubeObject } from '../../abi/types.ts';
import { groupOf } from '../../kube/gvk.ts';

/** The weight of `member` for `key`: the first 48 bits of SHA-256 over both, as an exact integer. */
export function weight(member: string, key: string): number {
  // A NUL cannot occur in a label value or an object key, so no two pairs share an input.
  return createHash('sha256').update(member).update('\0').update(key).digest().readUIntBE(0, 6);
}

/** The owner of `key` among `members`, or undefined when there is none. Ties (never seen in practice) go to the smaller name. */
export function ownerOf(key: string, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const w = weight(member, key);
    if (w > bestWeight || (w === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * The hash key of a primary, as timebertt's sharder forms it: group, kind, namespace, name. No version (the
 * same object is served under several) and no UID, so a deleted and re-created namesake keeps its shard.
 */
export function shardKey(group: string, kind: string, namespace: string | undefined, name: string): string {
  return `${group}/${kind}/${namespace ?? ''}/${name}`;
}

/**
 * The hash key of a child: its controller owner's (shardKey), so a child always hashes to the shard of the
 * primary that controls it. Undefined when no controller owner of `owner`'s kind controls it. The owner's
 * namespace is the child's: an owner reference cannot point into another namespace.
 */
export function childShardKey(
  child: KubeObject,
  owner: { readonly group: string; readonly kind: string; readonly namespaced: boolean },
): string | undefined {
  const ref = child.metadata.ownerReferences?.find((r) => r.controller === true);
  if (ref === undefined || ref.kind !== owner.kind || groupOf(ref.apiVersion) !== owner.group) return undefined;
  return shardKey(owner.group, owner.kind, owner.namespaced ? child.metadata.namespace : undefined, ref.name);
}
