// CachedObject: one cached object as its JSON text plus the few metadata fields the indexes read.

import type { KubeObject, ObjectView } from '../abi/types.ts';
import { WrError } from '../errors.ts';

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The JSON string is the only full copy kept; `object()` parses a fresh copy on each call, so callers may
 * mutate what they get without corrupting the cache.
 */
export class CachedObject implements ObjectView {
  readonly json: string;
  /** "namespace/name", or "name" for cluster-scoped objects. */
  readonly key: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly generation: number | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** UID of the ownerReference with controller=true, the object's one controlling owner. */
  readonly controllerUid: string | undefined;
  readonly deletionTimestamp: string | undefined;
  /**
   * When the field a store tracks (StoreOptions.trackField) last changed, as lastFieldChange() read it off
   * the managedFields the transform then drops. `declare`d, so objects of stores that track nothing carry no
   * slot for it: absent there, and where the evidence was missing.
   */
  declare readonly fieldChangedAt?: number;

  constructor(json: string, obj: KubeObject, namespace: string | undefined, fieldChangedAt?: number) {
    const meta = obj.metadata;
    this.json = json;
    this.namespace = namespace;
    this.name = meta.name;
    this.key = namespace === undefined ? meta.name : `${namespace}/${meta.name}`;
    this.uid = typeof meta.uid === 'string' ? meta.uid : undefined;
    this.resourceVersion = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : undefined;
    this.generation = typeof meta.generation === 'number' ? meta.generation : undefined;
    this.labels = meta.labels !== undefined && meta.labels !== null ? meta.labels : NO_LABELS;
    let controllerUid: string | undefined;
    for (const ref of meta.ownerReferences ?? []) {
      if (ref.controller === true && typeof ref.uid === 'string') {
        controllerUid = ref.uid;
        break;
      }
    }
    this.controllerUid = controllerUid;
    this.deletionTimestamp = typeof meta.deletionTimestamp === 'string' ? meta.deletionTimestamp : undefined;
    if (fieldChangedAt !== undefined) this.fieldChangedAt = fieldChangedAt;
  }

  object(): KubeObject {
    return JSON.parse(this.json) as KubeObject;
  }
}

/**
 * Builds the cached form of an already transformed object; `intern` shares repeated namespace strings,
 * `fieldChangedAt` is read off the object before the transform.
 */
export function toCachedObject(obj: KubeObject, intern: (s: string) => string, fieldChangedAt?: number): CachedObject {
  const meta = obj?.metadata;
  if (meta === undefined || meta === null || typeof meta.name !== 'string' || meta.name === '') {
    throw new WrError('WR_KUBE_REQUEST', 'object from the API server has no metadata.name');
  }
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? intern(meta.namespace) : undefined;
  return new CachedObject(JSON.stringify(obj), obj, ns, fieldChangedAt);
}
