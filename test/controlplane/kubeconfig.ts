// Writes self-contained kubeconfig files (credentials embedded) that kubectl and any client library read.

import { readFileSync, writeFileSync } from 'node:fs';

export type KubeconfigCredentials =
  | { readonly clientCertificate: string; readonly clientKey: string }
  | { readonly token: string };

export interface KubeconfigSpec {
  readonly server: string;
  /** PEM file of the CA that signed the API server's serving certificate. */
  readonly certificateAuthority: string;
  readonly user: string;
  readonly credentials: KubeconfigCredentials;
  readonly namespace?: string;
}

export const CONTEXT_NAME = 'wasm-reconciler-test';

/** Renders the kubeconfig as JSON, which is valid YAML and so readable by every kubeconfig loader. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const base64 = (path: string) => readFileSync(path).toString('base64');
  const user =
    'token' in spec.credentials
      ? { token: spec.credentials.token }
      : {
          'client-certificate-data': base64(spec.credentials.clientCertificate),
          'client-key-data': base64(spec.credentials.clientKey),
        };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CONTEXT_NAME,
        cluster: { server: spec.server, 'certificate-authority-data': base64(spec.certificateAuthority) },
      },
    ],
    users: [{ name: spec.user, user }],
    contexts: [
      {
        name: CONTEXT_NAME,
        context: { cluster: CONTEXT_NAME, user: spec.user, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
      },
    ],
    'current-context': CONTEXT_NAME,
    preferences: {},
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  writeFileSync(path, renderKubeconfig(spec), { mode: 0o600 });
}
