// The WasmReconciler the host benches serve the configmap-app module with: Apps in `namespace`, owning their
// ConfigMap and Deployment, the module inline.

import type { KubeObject } from '../../host/src/abi/types.ts';

export const WR_API_VERSION = 'wasmreconciler.dev/v1alpha1';
export const APP_API_VERSION = 'demo.wasmreconciler.dev/v1alpha1';

export function appsWasmReconciler(namespace: string, bytes: Uint8Array): KubeObject {
  return {
    apiVersion: WR_API_VERSION,
    kind: 'WasmReconciler',
    metadata: { name: 'apps', namespace },
    spec: {
      for: { apiVersion: APP_API_VERSION, kind: 'App' },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: Buffer.from(bytes).toString('base64') },
    },
  };
}
