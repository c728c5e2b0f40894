// Realistic App inputs for the example's tests and benchmark, encoded by the SDK (the host's own encoder).

import { type KubeObject, reconcileInput, type TriggerReason } from '@wasm-reconciler/sdk-assemblyscript/tools/testing';

export const GROUP_VERSION = 'demo.wasmreconciler.dev/v1alpha1';

/**
 * An App as the API server serves it, managedFields included: about 5 KB, most of which a reconciler
 * never reads (the point of the lazy reader).
 */
export function app(overrides: { spec?: Record<string, unknown>; status?: Record<string, unknown> } = {}): KubeObject {
  const managedFields = Array.from({ length: 6 }, (_, i) => ({
    manager: i === 0 ? 'kubectl-client-side-apply' : `wasm-reconciler-${i}`,
    operation: i === 0 ? 'Update' : 'Apply',
    apiVersion: GROUP_VERSION,
    time: '2025-01-02T03:04:05Z',
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} } },
      'f:spec': {
        '.': {},
        'f:config': { '.': {}, 'f:LOG_LEVEL': {}, 'f:FEATURE_X': {} },
        'f:image': {},
        'f:replicas': {},
      },
      'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:reason': {} } } },
    },
  }));
  return {
    apiVersion: GROUP_VERSION,
    kind: 'App',
    metadata: {
      name: 'hello',
      namespace: 'demo',
      uid: '6f1c2a7e-0d4b-4b8e-9d1a-1f2e3d4c5b6a',
      resourceVersion: '4242',
      generation: 3,
      creationTimestamp: '2025-01-02T03:04:05Z',
      labels: { team: 'edge', 'app.kubernetes.io/part-of': 'demo' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: { image: 'nginx:1.27' } }).repeat(4),
      },
      managedFields,
    },
    spec: {
      image: 'ghcr.io/example/hello:1.2.3',
      replicas: 2,
      message: 'Hello, "edge" \u00e9t\u00e9 \u{1F680}\n',
      config: { LOG_LEVEL: 'debug', FEATURE_X: 'on' },
      ...overrides.spec,
    },
    ...(overrides.status ? { status: overrides.status } : {}),
  };
}

export function deployment(name: string, readyReplicas: number | undefined): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'demo', uid: 'd-1', generation: 1 },
    spec: { replicas: 2 },
    status: readyReplicas === undefined ? {} : { readyReplicas, replicas: 2 },
  };
}

export function configMap(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'demo', uid: 'c-1' }, data: {} };
}

export function input(
  primary: KubeObject,
  options: { children?: KubeObject[]; deleted?: boolean; reason?: TriggerReason } = {},
): string {
  return reconcileInput({
    trigger: { reason: options.reason ?? 'updated' },
    reconciler: { name: 'configmap-app', namespace: 'wasm-reconciler', generation: 1 },
    primary,
    deleted: options.deleted ?? false,
    children: options.children ?? [],
  });
}
