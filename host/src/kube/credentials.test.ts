// Unit tests of credentialsOf: which header and TLS material each kind of kubeconfig user yields.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { credentialsOf, TOKEN_FILE_REFRESH_MS } from './credentials.ts';
import { KubeConfig } from './kubeconfig.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'wr-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cluster = { name: 'c', server: 'https://10.0.0.1:6443', caData: Buffer.from('CA').toString('base64') };

describe('credentialsOf', () => {
  it('sends a static token, the CA from data, and impersonation', async () => {
    const creds = await credentialsOf(KubeConfig.of(cluster, { name: 'u', token: 't0k', impersonateUser: 'bob' }));
    assert.deepEqual(await creds.headers(), { 'Impersonate-User': 'bob', Authorization: 'Bearer t0k' });
    assert.equal(String(creds.tls.ca), 'CA');
  });

  it('re-reads a token file once it is a minute old, keeping the last good token if the file goes away', async () => {
    const file = path.join(dir, 'token');
    writeFileSync(file, 'first\n');
    let now = 0;
    const creds = await credentialsOf(KubeConfig.of(cluster, { name: 'u', tokenFile: file }), () => now);
    writeFileSync(file, 'second');
    assert.equal((await creds.headers()).Authorization, 'Bearer first', 'cached within the minute');
    now = TOKEN_FILE_REFRESH_MS;
    assert.equal((await creds.headers()).Authorization, 'Bearer second');
    rmSync(file);
    now = 2 * TOKEN_FILE_REFRESH_MS;
    assert.equal((await creds.headers()).Authorization, 'Bearer second');
  });

  it("reads client-node's in-cluster form (an auth provider with a tokenFile) itself", async () => {
    const file = path.join(dir, 'sa-token');
    writeFileSync(file, 'sa');
    const creds = await credentialsOf(
      KubeConfig.of(cluster, { name: 'u', authProvider: { name: 'tokenFile', config: { tokenFile: file } } }),
    );
    assert.equal((await creds.headers()).Authorization, 'Bearer sa');
  });

  it('turns username and password into basic auth and skipTLSVerify into rejectUnauthorized=false', async () => {
    const creds = await credentialsOf(
      KubeConfig.of({ ...cluster, skipTLSVerify: true }, { name: 'u', username: 'a', password: 'b' }),
    );
    assert.equal((await creds.headers()).Authorization, `Basic ${Buffer.from('a:b').toString('base64')}`);
    assert.equal(creds.tls.rejectUnauthorized, false);
  });

  it('fails with WR_KUBE_CONFIG on a missing token file or no current cluster', async () => {
    await assert.rejects(
      credentialsOf(KubeConfig.of(cluster, { name: 'u', tokenFile: path.join(dir, 'missing') })),
      (err: { code?: string }) => err.code === 'WR_KUBE_CONFIG',
    );
    const empty = KubeConfig.merge([]);
    await assert.rejects(credentialsOf(empty), (err: { code?: string }) => err.code === 'WR_KUBE_CONFIG');
  });

  it('runs an exec plugin through client-node and sends the token it prints', async () => {
    const plugin = path.join(dir, 'plugin.sh');
    const status = {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'from-exec' },
    };
    writeFileSync(plugin, `#!/bin/sh\necho '${JSON.stringify(status)}'\n`, { mode: 0o755 });
    const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' };
    const creds = await credentialsOf(KubeConfig.of(cluster, { name: 'u', exec }));
    assert.equal((await creds.headers()).Authorization, 'Bearer from-exec');
  });
});
