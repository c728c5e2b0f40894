// The pod's own ServiceAccount as a kubeconfig: the API server from the service environment, the mounted CA and token.

import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { WrError } from '../errors.ts';
import { KubeConfig } from './kubeconfig.ts';

const ROOT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Where kubelet mounts a pod's ServiceAccount credentials. */
export const IN_CLUSTER = { token: `${ROOT}/token`, ca: `${ROOT}/ca.crt`, namespace: `${ROOT}/namespace` } as const;

export interface InClusterFiles {
  readonly token: string;
  readonly ca: string;
  readonly namespace: string;
}

/**
 * A KubeConfig for KUBERNETES_SERVICE_HOST/PORT, trusting `ca.crt` and sending the token file, which the
 * transport re-reads as kubelet rotates it (a projected token lives about an hour). `files` moves the
 * mount, for tests.
 */
export async function inClusterConfig(
  env: NodeJS.ProcessEnv = process.env,
  files: InClusterFiles = IN_CLUSTER,
): Promise<KubeConfig> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new WrError(
      'WR_KUBE_CONFIG',
      'in-cluster config needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set by kubelet in a pod)',
    );
  }
  let namespace: string | undefined;
  try {
    namespace = (await readFile(files.namespace, 'utf8')).trim() || undefined;
  } catch {
    // Optional: only a default for namespaced requests, which the host always names.
  }
  return KubeConfig.of(
    { name: 'in-cluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: files.ca },
    { name: 'service-account', tokenFile: files.token },
    namespace,
  );
}
