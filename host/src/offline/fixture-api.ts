// The list, watch and discovery calls the cache makes, answered from given objects as the API server would.
//
// The offline engine runs the real ReflectorRegistry over this client, so its stores, indexes and label
// selection are production's: only the transport is replaced. Lists filter by namespace and label selector
// the way the API server does (the cache relies on the server to narrow a selected watch); watches stay
// open and silent until the registry closes, since nothing changes during one offline reconcile.

import { createHash } from 'node:crypto';
import type { KubeObject } from '../abi/types.ts';
import { parseLabelSelector, type RegistryClient } from '../cache/index.ts';
import type { KubeList, ListOptions, WatchEvent, WatchOptions, WatchStream } from '../kube/client.ts';
import { apiVersionOf, gvkOf, kindKey, parseApiVersion } from '../kube/gvk.ts';
import type { ApiResource } from '../kube/paths.ts';

/** Built-in kinds the API server serves cluster-scoped; every other kind is namespaced unless objects say otherwise. */
const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'v1/Namespace',
  'v1/Node',
  'v1/PersistentVolume',
  'rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
  'apiextensions.k8s.io/v1/CustomResourceDefinition',
  'storage.k8s.io/v1/StorageClass',
  'storage.k8s.io/v1/CSIDriver',
  'storage.k8s.io/v1/VolumeAttachment',
  'scheduling.k8s.io/v1/PriorityClass',
  'networking.k8s.io/v1/IngressClass',
  'node.k8s.io/v1/RuntimeClass',
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration',
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration',
  'apiregistration.k8s.io/v1/APIService',
  'certificates.k8s.io/v1/CertificateSigningRequest',
  'wasmreconciler.dev/v1alpha1/ClusterWasmReconciler',
]);

/** A UID derived from an object's identity, so a fixture run is the same on every machine. */
export function stableUid(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
  const h = createHash('sha256')
    .update(`${apiVersion}/${kind}/${namespace ?? ''}/${name}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class FixtureApi implements RegistryClient {
  readonly #objects: readonly KubeObject[];
  readonly #clusterScoped: ReadonlySet<string>;

  /**
   * `objects` as the API server would serve them: each gets a uid and a resourceVersion when it has none.
   * A kind is cluster-scoped when it is a built-in cluster-scoped kind, or when its objects have no
   * namespace, or when `clusterScoped` names it ("apiVersion/kind").
   */
  constructor(objects: readonly KubeObject[], clusterScoped: readonly string[] = []) {
    this.#objects = objects.map(served);
    const scoped = new Set([...CLUSTER_SCOPED_KINDS, ...clusterScoped]);
    for (const o of this.#objects) if (!o.metadata.namespace) scoped.add(kindKey(o.apiVersion, o.kind));
    this.#clusterScoped = scoped;
  }

  /** Every object as served (uid and resourceVersion filled in). */
  get objects(): readonly KubeObject[] {
    return this.#objects;
  }

  async resource(apiVersion: string, kind: string): Promise<ApiResource> {
    const gvk = gvkOf({ apiVersion, kind });
    return {
      ...gvk,
      // Only logs and error messages read the plural offline; the lower-cased kind plus "s" names it well enough.
      plural: `${kind.toLowerCase()}s`,
      namespaced: !this.#clusterScoped.has(kindKey(apiVersionOf(gvk), kind)),
    };
  }

  async list(res: ApiResource, options: ListOptions = {}): Promise<KubeList> {
    const apiVersion = apiVersionOf(res);
    const selector = options.labelSelector ? parseLabelSelector(options.labelSelector) : undefined;
    const items = this.#objects.filter(
      (o) =>
        o.apiVersion === apiVersion &&
        o.kind === res.kind &&
        (options.namespace === undefined || o.metadata.namespace === options.namespace) &&
        (selector === undefined || selector.matches(o.metadata.labels)),
    );
    return { apiVersion, kind: `${res.kind}List`, metadata: { resourceVersion: '1' }, items };
  }

  async watch(_res: ApiResource, options: WatchOptions = {}): Promise<WatchStream> {
    const signal = options.signal;
    return {
      close() {},
      async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent> {
        if (signal === undefined || signal.aborted) return;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    };
  }
}

function served(object: KubeObject): KubeObject {
  parseApiVersion(object.apiVersion);
  const { namespace, name } = object.metadata;
  return {
    ...object,
    metadata: {
      ...object.metadata,
      uid: object.metadata.uid ?? stableUid(object.apiVersion, object.kind, namespace, name),
      resourceVersion: object.metadata.resourceVersion ?? '1',
    },
  };
}
