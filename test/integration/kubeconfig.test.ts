// The host's own kubeconfig path against the real API server: token, client certificate, in-cluster files.
//
// Each case proves who the server thinks we are (a SelfSubjectReview), and that @kubernetes/client-node was
// never imported for it: these are the auth kinds the host serves without it (kube/credentials.ts).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { inClusterConfig, KubeClient, type KubeConfigView, loadKubeConfig } from '../../host/src/kube/index.ts';
import { createTestNamespace, getTestCluster, mintServiceAccountKubeconfig, waitFor } from '../support/cluster.ts';

const ROOT = path.join(import.meta.dirname, '../..');
let ns: string;
let dir: string;
let server: string;
let ca: Buffer;
let token: string;

async function whoAmI(kc: KubeConfigView): Promise<string> {
  const client = await KubeClient.fromKubeConfig(kc);
  try {
    const review = await client.request<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    return review.status?.userInfo?.username ?? '';
  } finally {
    client.close();
  }
}

/**
 * In a fresh Node process (this one imported client-node for the harness): loads `file` through the host's
 * loader, asks who it is, and reports whether any module of @kubernetes/client-node was resolved.
 */
function whoAmIAlone(file: string): { user: string; clientNode: boolean } {
  const script = `
    import { registerHooks } from 'node:module';
    let clientNode = false;
    registerHooks({ resolve(specifier, context, next) {
      const r = next(specifier, context);
      if (r.url.includes('@kubernetes/client-node')) clientNode = true;
      return r;
    } });
    const { KubeClient, loadKubeConfig } = await import(${JSON.stringify(path.join(ROOT, 'host/src/kube/index.ts'))});
    const client = await KubeClient.fromKubeConfig(await loadKubeConfig({ path: ${JSON.stringify(file)} }));
    const review = await client.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    client.close();
    process.stdout.write(JSON.stringify({ user: review.status.userInfo.username, clientNode }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as { user: string; clientNode: boolean };
}

before(async () => {
  // node:test's after() runs the deletion when this file's tests end.
  ns = await createTestNamespace({ after } as unknown as Pick<TestContext, 'after'>, 'kubeconfig');
  dir = mkdtempSync(path.join(tmpdir(), 'wr-kubeconfig-'));
  const admin = await getTestCluster();
  const cluster = admin.getCurrentCluster()!;
  server = cluster.server;
  ca = Buffer.from(cluster.caData!, 'base64');
  const sa = await waitFor(() => mintServiceAccountKubeconfig({ namespace: ns, name: 'default' }), {
    description: 'the default ServiceAccount to exist',
  });
  token = sa.getCurrentUser()!.token!;
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('kubeconfig without client-node', () => {
  it('authenticates with a bearer token from a YAML kubeconfig', async () => {
    const file = path.join(dir, 'token.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: sa',
        'clusters:',
        `- name: local`,
        `  cluster: { server: "${server}", certificate-authority-data: ${ca.toString('base64')} }`,
        'users:',
        `- name: sa`,
        `  user: { token: "${token}" }`,
        'contexts:',
        '- name: sa',
        `  context: { cluster: local, user: sa, namespace: ${ns} }`,
      ].join('\n'),
    );
    const kc = await loadKubeConfig({ path: file });
    assert.equal(kc.namespace, ns);
    assert.equal(await whoAmI(kc), `system:serviceaccount:${ns}:default`);
  });

  it('authenticates with a client certificate and key in files named relative to the kubeconfig', async () => {
    const admin = (await getTestCluster()).getCurrentUser()!;
    writeFileSync(path.join(dir, 'admin.crt'), Buffer.from(admin.certData!, 'base64'));
    writeFileSync(path.join(dir, 'admin.key'), Buffer.from(admin.keyData!, 'base64'));
    writeFileSync(path.join(dir, 'ca.crt'), ca);
    const file = path.join(dir, 'cert.yaml');
    writeFileSync(
      file,
      [
        'current-context: admin',
        `clusters: [{ name: local, cluster: { server: "${server}", certificate-authority: ca.crt } }]`,
        'users: [{ name: admin, user: { client-certificate: admin.crt, client-key: admin.key } }]',
        'contexts: [{ name: admin, context: { cluster: local, user: admin } }]',
      ].join('\n'),
    );
    // Through $KUBECONFIG, with a second file whose entries lose to the first one's (kubectl's merge).
    const other = path.join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ 'current-context': 'nobody', clusters: [], users: [], contexts: [] }));
    const kc = await loadKubeConfig({ env: { KUBECONFIG: [file, other].join(path.delimiter) } });
    assert.equal(await whoAmI(kc), 'wasm-reconciler-admin');
  });

  it('authenticates in-cluster style: service host and port, the token file and ca.crt', async () => {
    const files = { token: path.join(dir, 'token'), ca: path.join(dir, 'sa-ca.crt'), namespace: path.join(dir, 'ns') };
    writeFileSync(files.token, `${token}\n`);
    writeFileSync(files.ca, ca);
    writeFileSync(files.namespace, ns);
    const url = new URL(server);
    const kc = await inClusterConfig(
      { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
      files,
    );
    assert.equal(kc.namespace, ns);
    assert.equal(await whoAmI(kc), `system:serviceaccount:${ns}:default`);
  });

  it('never imports @kubernetes/client-node for a token or a client certificate', () => {
    for (const file of ['token.yaml', 'cert.yaml']) {
      const { user, clientNode } = whoAmIAlone(path.join(dir, file));
      assert.ok(user !== '', file);
      assert.equal(clientNode, false, file);
    }
  });
});
