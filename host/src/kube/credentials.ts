// Turns a kubeconfig's current cluster and user into TLS settings and the auth headers of each request.
//
// Tokens, token files, client certificates and basic auth are read here. Exec plugins and auth providers
// (OIDC, cloud logins) run client-node's code, imported only for such a user: see internal/plugin-auth.ts.

import { readFile } from 'node:fs/promises';
import { WrError } from '../errors.ts';
import type { KubeCluster, KubeConfigView, KubeUser } from './kubeconfig.ts';
import type { TlsSettings } from './transport.ts';

export interface Credentials {
  readonly cluster: KubeCluster;
  readonly tls: TlsSettings;
  /** Called before every request, so rotating tokens stay current. */
  headers(): Promise<Record<string, string>>;
}

/** How long a token file's content is trusted before it is read again (client-go re-reads every minute). */
export const TOKEN_FILE_REFRESH_MS = 60_000;

export async function credentialsOf(kc: KubeConfigView, now: () => number = Date.now): Promise<Credentials> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new WrError('WR_KUBE_CONFIG', 'the kubeconfig has no current cluster');
  const user = kc.getCurrentUser();
  const tls: { -readonly [K in keyof TlsSettings]: TlsSettings[K] } = {};
  const ca = await material(cluster.caFile, cluster.caData, 'certificate authority');
  if (ca !== undefined) tls.ca = ca;
  if (cluster.skipTLSVerify === true) tls.rejectUnauthorized = false;
  if (cluster.tlsServerName) tls.servername = cluster.tlsServerName;
  if (user === null) return { cluster, tls, headers: async () => ({}) };

  const cert = await material(user.certFile, user.certData, 'client certificate');
  const key = await material(user.keyFile, user.keyData, 'client key');
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  const fixed: Record<string, string> = {};
  if (user.impersonateUser) fixed['Impersonate-User'] = user.impersonateUser;
  if (user.username && user.password) {
    fixed.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
  }
  if (user.token) fixed.Authorization = `Bearer ${user.token}`;

  const tokenFile = user.tokenFile || fileProviderToken(user.authProvider);
  if (needsPlugin(user)) {
    const { pluginAuth } = await import('./internal/plugin-auth.ts');
    const plugin = await pluginAuth(cluster, user);
    if (plugin.cert !== undefined) tls.cert = plugin.cert;
    if (plugin.key !== undefined) tls.key = plugin.key;
    return { cluster, tls, headers: async () => ({ ...fixed, ...(await plugin.headers()) }) };
  }
  if (tokenFile) {
    const token = tokenFileReader(tokenFile, now);
    // Read once now: a missing or unreadable file is a configuration error at start, not on the first call.
    await token();
    return { cluster, tls, headers: async () => ({ ...fixed, Authorization: `Bearer ${await token()}` }) };
  }
  return { cluster, tls, headers: async () => fixed };
}

/** client-node writes the in-cluster token as an auth provider named tokenFile; that one is ours to read. */
function fileProviderToken(provider: unknown): string | undefined {
  const config = (provider as { config?: { tokenFile?: unknown } } | null | undefined)?.config;
  return typeof config?.tokenFile === 'string' ? config.tokenFile : undefined;
}

function needsPlugin(user: KubeUser): boolean {
  if (user.exec !== undefined && user.exec !== null) return true;
  const provider = user.authProvider;
  return provider !== undefined && provider !== null && fileProviderToken(provider) === undefined;
}

async function material(file: string | null | undefined, data: string | null | undefined, what: string) {
  if (file) {
    try {
      return await readFile(file);
    } catch (cause) {
      throw new WrError('WR_KUBE_CONFIG', `cannot read the ${what} ${file}: ${(cause as Error).message}`, { cause });
    }
  }
  return data ? Buffer.from(data, 'base64') : undefined;
}

/** The file's token, re-read once it is TOKEN_FILE_REFRESH_MS old; a failed re-read keeps the last good one. */
function tokenFileReader(file: string, now: () => number): () => Promise<string> {
  let token: string | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<string> | undefined;
  const read = async () => {
    try {
      const text = (await readFile(file, 'utf8')).trim();
      if (text === '') throw new Error('the file is empty');
      token = text;
      readAt = now();
      return text;
    } catch (cause) {
      if (token !== undefined) {
        readAt = now();
        return token;
      }
      throw new WrError('WR_KUBE_CONFIG', `cannot read the token file ${file}: ${(cause as Error).message}`, { cause });
    } finally {
      reading = undefined;
    }
  };
  return async () => {
    if (token !== undefined && now() - readAt < TOKEN_FILE_REFRESH_MS) return token;
    reading ??= read();
    return reading;
  };
}
