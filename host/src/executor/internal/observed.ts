// What the executor reads from an observed child, extracted once per cached object instead of once per reconcile.
//
// A cached object never changes (an update replaces the instance), so its identity, its owner and whether a
// given desired object is contained in it hold for as long as the instance lives. A WeakMap keeps those few
// fields beside the instance and lets them go with it; the object itself is parsed again only when a
// comparison has no remembered outcome, and that parse lives for one reconcile.

import type { KubeObject, ObjectView } from '../../abi/types.ts';
import { childKey } from '../kinds.ts';

export interface ObservedChild {
  readonly view: ObjectView;
  /** Identity across versions: "Kind.group/namespace/name". */
  readonly key: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly uid: string | undefined;
  /** UID of the ownerReference with controller=true. */
  readonly controllerUid: string | undefined;
  readonly deleting: boolean;
  /** Digest of the last desired object found contained in this object: the same digest needs no comparison. */
  verified: string | undefined;
}

/** One executor's memo; entries die with the cached objects they describe. */
export class ObservedChildren {
  readonly #memo = new WeakMap<ObjectView, ObservedChild>();

  /** A view of the memo for one reconcile, which shares the parses it makes until it is dropped. */
  scope(): ObservedScope {
    return new ObservedScope(this.#memo);
  }
}

export class ObservedScope {
  readonly #memo: WeakMap<ObjectView, ObservedChild>;
  readonly #parsed = new Map<ObjectView, KubeObject>();

  constructor(memo: WeakMap<ObjectView, ObservedChild>) {
    this.#memo = memo;
  }

  get(view: ObjectView): ObservedChild {
    let child = this.#memo.get(view);
    if (child === undefined) {
      child = summarise(view, this.object(view));
      this.#memo.set(view, child);
    }
    return child;
  }

  /** The parsed object, read-only: the same copy serves every reader in this reconcile. */
  object(view: ObjectView): KubeObject {
    let object = this.#parsed.get(view);
    if (object === undefined) {
      object = view.object();
      this.#parsed.set(view, object);
    }
    return object;
  }
}

function summarise(view: ObjectView, object: KubeObject): ObservedChild {
  const meta = object.metadata;
  const namespace = meta.namespace || undefined;
  return {
    view,
    key: childKey(object.apiVersion, object.kind, namespace, meta.name),
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace,
    name: meta.name,
    uid: meta.uid,
    controllerUid: meta.ownerReferences?.find((ref) => ref.controller === true)?.uid,
    deleting: meta.deletionTimestamp !== undefined,
    verified: undefined,
  };
}
