// Mints a kubeconfig that authenticates as a ServiceAccount through the TokenRequest API.
//
// This is how tests act as a restricted identity (a controller's own RBAC) instead of cluster-admin.
// It works against any cluster the admin KubeConfig reaches, not only the local control plane.

import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ControlPlaneError } from './errors.ts';

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
  /** Token lifetime; the API server enforces at least 600. Default 3600. */
  readonly expirationSeconds?: number;
}

export async function mintServiceAccountKubeconfig(admin: KubeConfig, ref: ServiceAccountRef): Promise<KubeConfig> {
  const cluster = admin.getCurrentCluster();
  if (cluster === null) {
    throw new ControlPlaneError('CP_INVALID', 'The admin kubeconfig has no current cluster to mint a token for.');
  }
  let token: string | undefined;
  try {
    const response = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      namespace: ref.namespace,
      name: ref.name,
      // No audiences: the token is for the API server itself.
      body: { spec: { audiences: [], expirationSeconds: ref.expirationSeconds ?? 3600 } },
    });
    token = response.status?.token;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) {
      throw new ControlPlaneError(
        'CP_INVALID',
        `ServiceAccount ${ref.namespace}/${ref.name} does not exist; create it before minting a token for it.`,
        { cause: err },
      );
    }
    throw err;
  }
  if (token === undefined || token === '') {
    throw new ControlPlaneError('CP_INVALID', `The TokenRequest for ${ref.namespace}/${ref.name} returned no token.`);
  }
  const user = `system:serviceaccount:${ref.namespace}:${ref.name}`;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: cluster.name, user, namespace: ref.namespace }],
    currentContext: user,
  });
  return kubeConfig;
}
