// Unit tests of the kubeconfig reader: YAML and JSON, relative paths, kubectl's merge, the search order.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { KubeConfig } from './kubeconfig.ts';
import { loadKubeConfig } from './load-config.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'wr-kubeconfig-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const yaml = (server: string, current: string) =>
  [
    `current-context: ${current}`,
    'clusters:',
    `- { name: c, cluster: { server: "${server}/", certificate-authority: certs/ca.crt, tls-server-name: api } }`,
    'users:',
    '- { name: u, user: { token-file: tok, as: alice } }',
    'contexts:',
    '- { name: one, context: { cluster: c, user: u, namespace: apps } }',
  ].join('\n');

describe('KubeConfig', () => {
  it('reads YAML, resolves file paths against the file, and trims the server slash', async () => {
    const kc = await KubeConfig.parse(yaml('https://k:6443', 'one'), '/etc/kube');
    assert.deepEqual(kc.getCurrentCluster(), {
      name: 'c',
      server: 'https://k:6443',
      caData: null,
      caFile: '/etc/kube/certs/ca.crt',
      skipTLSVerify: false,
      tlsServerName: 'api',
    });
    assert.equal(kc.getCurrentUser()?.tokenFile, '/etc/kube/tok');
    assert.equal(kc.getCurrentUser()?.impersonateUser, 'alice');
    assert.equal(kc.namespace, 'apps');
  });

  it('merges like kubectl: the first file to set a name or current-context wins', async () => {
    const a = await KubeConfig.parse(yaml('https://first', 'one'), dir);
    const b = await KubeConfig.parse(yaml('https://second', 'two'), dir);
    const merged = KubeConfig.merge([a, b]);
    assert.equal(merged.currentContext, 'one');
    assert.equal(merged.getCurrentCluster()?.server, 'https://first');
  });

  it('rejects what is not a kubeconfig with WR_KUBE_CONFIG', async () => {
    const isConfigError = (err: { code?: string }) => err.code === 'WR_KUBE_CONFIG';
    await assert.rejects(KubeConfig.parse('clusters: [{ name: c, cluster: {} }]', dir), isConfigError);
    await assert.rejects(KubeConfig.parse('{ unclosed', dir), isConfigError);
    await assert.rejects(KubeConfig.fromFile(path.join(dir, 'absent')), isConfigError);
  });
});

describe('loadKubeConfig', () => {
  it('prefers $KUBECONFIG, then ~/.kube/config, and says what to do when there is neither', async () => {
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.kube'), { recursive: true });
    writeFileSync(path.join(home, '.kube', 'config'), yaml('https://home', 'one'));
    const fromEnv = path.join(dir, 'env.yaml');
    writeFileSync(fromEnv, yaml('https://env', 'one'));
    assert.equal(
      (await loadKubeConfig({ env: { KUBECONFIG: fromEnv }, home })).getCurrentCluster()?.server,
      'https://env',
    );
    assert.equal((await loadKubeConfig({ env: {}, home })).getCurrentCluster()?.server, 'https://home');
    await assert.rejects(
      loadKubeConfig({ env: {}, home: path.join(dir, 'nobody') }),
      (err: { code?: string }) => err.code === 'WR_KUBE_CONFIG',
    );
  });
});
