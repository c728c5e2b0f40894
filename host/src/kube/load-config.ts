// Finds the kubeconfig a client should use: the flag's file, $KUBECONFIG, ~/.kube/config, then the pod's ServiceAccount.

import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { WrError } from '../errors.ts';
import { IN_CLUSTER, inClusterConfig } from './in-cluster.ts';
import { KubeConfig } from './kubeconfig.ts';

export interface LoadKubeConfigOptions {
  /** An explicit file (the --kubeconfig flag); otherwise the search below. */
  readonly path?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
}

/**
 * The kubeconfig a client would use: `path`, else every file in $KUBECONFIG (merged), else ~/.kube/config,
 * else the pod's ServiceAccount. Nothing found is WR_KUBE_CONFIG (client-node would dial localhost:8080).
 */
export async function loadKubeConfig(options: LoadKubeConfigOptions = {}): Promise<KubeConfig> {
  if (options.path !== undefined) return KubeConfig.fromFile(options.path);
  const env = options.env ?? process.env;
  const files = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (files.length > 0) return KubeConfig.merge(await Promise.all(files.map((f) => KubeConfig.fromFile(f))));
  const home = options.home ?? homedir();
  const fallback = path.join(home, '.kube', 'config');
  if (await readable(fallback)) return KubeConfig.fromFile(fallback);
  if (await readable(IN_CLUSTER.token)) return inClusterConfig(env);
  throw new WrError(
    'WR_KUBE_CONFIG',
    `no kubeconfig: give --kubeconfig, set KUBECONFIG, create ${fallback}, or run in a pod with a ServiceAccount token`,
  );
}

async function readable(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
