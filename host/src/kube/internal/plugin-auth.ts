// Credentials from exec plugins and auth providers (OIDC, cloud logins), through client-node's implementations.
//
// Imported only for a user that needs them: client-node costs ~80 MB of RSS and ~0.4 s of CPU to load,
// which a ServiceAccount token or a client certificate never pays (credentials.ts).

import type { RequestOptions } from 'node:https';
import type { Cluster, User } from '@kubernetes/client-node';
import { WrError } from '../../errors.ts';
import type { KubeCluster, KubeUser } from '../kubeconfig.ts';

export interface PluginAuth {
  /** A client certificate the plugin returned (exec plugins may answer with one instead of a token). */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Runs the plugin again when its credential has expired; client-node caches it until then. */
  headers(): Promise<Record<string, string>>;
}

export async function pluginAuth(cluster: KubeCluster, user: KubeUser): Promise<PluginAuth> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  // Only the user matters to the authenticators; the cluster entry completes client-node's context.
  kc.loadFromClusterAndUser(
    { name: cluster.name, server: cluster.server, skipTLSVerify: cluster.skipTLSVerify === true } as Cluster,
    { ...user, name: user.name } as User,
  );
  const apply = async () => {
    const opts: RequestOptions = { headers: {} };
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (cause) {
      throw new WrError('WR_KUBE_CONFIG', `the kubeconfig's auth plugin failed: ${(cause as Error).message}`, {
        cause,
      });
    }
    return opts;
  };
  const first = await apply();
  const headersOf = (opts: RequestOptions) => {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (typeof value === 'string' || typeof value === 'number') out[name] = String(value);
    }
    return out;
  };
  return {
    ...(first.cert === undefined ? {} : { cert: first.cert as string | Buffer }),
    ...(first.key === undefined ? {} : { key: first.key as string | Buffer }),
    headers: async () => headersOf(await apply()),
  };
}
