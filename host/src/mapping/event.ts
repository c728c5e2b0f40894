// The shapes event mapping consumes (a cache event) and feeds (anything that accepts keyed, reasoned adds).

import type { KubeObject, TriggerReason } from '../abi/types.ts';
import { WrError } from '../errors.ts';

export interface MappingEvent {
  readonly type: 'added' | 'updated' | 'deleted';
  /** The new state; for `deleted`, the last state known (a tombstone). */
  readonly object: KubeObject;
  /** The previous state, for `updated`. */
  readonly oldObject?: KubeObject;
  /** Delivered by a list (the initial list or a relist after 410) rather than a watch: low-priority lane. */
  readonly initial?: boolean;
}

/** Where mapped keys go; a WorkQueue satisfies it. Returns false when the key was refused. */
export interface EnqueueSink {
  add(
    key: string,
    options: {
      readonly reason: TriggerReason;
      readonly lane: 'user' | 'low';
      /** The child or related object behind the event (reconcile input trigger.kind/name/namespace). */
      readonly source?: { readonly kind: string; readonly name: string; readonly namespace?: string };
    },
  ): boolean;
}

/** The queue key of an object: "namespace/name", or "name" when cluster-scoped (client-go's key format). */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? name : `${namespace}/${name}`;
}

/** The inverse of objectKey: [namespace or undefined, name]; a key objectKey cannot produce is a host bug. */
export function splitKey(key: string): [string | undefined, string] {
  const parts = key.split('/');
  const [first, second] = parts;
  if (parts.length === 1 && first) return [undefined, first];
  if (parts.length === 2 && first && second) return [first, second];
  throw new WrError('WR_HOST_INTERNAL', `malformed work queue key '${key.slice(0, 300)}'`);
}

export function keyOf(obj: KubeObject): string {
  return objectKey(obj.metadata.namespace, obj.metadata.name);
}
