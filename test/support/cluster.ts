// What integration tests import to reach a Kubernetes API: the shared test cluster, namespaces, polling.
//
// Under `npm test` the runner starts one control plane and passes its kubeconfig in WR_TEST_KUBECONFIG.
// A file run on its own (`node --test test/integration/x.test.ts`) starts a private control plane on
// first use, torn down when the process exits. With WR_TEST_USE_EXISTING_CLUSTER=1 the cluster that
// KUBECONFIG points at is used instead (for example a real k3s).

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startControlPlane } from '../controlplane/controlplane.ts';
import { mintServiceAccountKubeconfig as mint, type ServiceAccountRef } from '../controlplane/serviceaccount.ts';

/** Set by test/run.ts: the admin kubeconfig of the cluster every test file shares. */
export const TEST_KUBECONFIG_ENV = 'WR_TEST_KUBECONFIG';
/** Set to 1 (with KUBECONFIG) to test against an existing cluster instead of a local control plane. */
export const USE_EXISTING_CLUSTER_ENV = 'WR_TEST_USE_EXISTING_CLUSTER';
/** Label on every namespace createTestNamespace makes, so leftovers of killed runs are easy to find. */
export const TEST_NAMESPACE_LABEL = 'wasm-reconciler.dev/test';

interface TestCluster {
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigPath: string;
}

let cluster: Promise<TestCluster> | undefined;

/** True when the tests run against a cluster the user brought, not one this harness started. */
export function usingExistingCluster(): boolean {
  return process.env[USE_EXISTING_CLUSTER_ENV] === '1';
}

/** The admin KubeConfig of the test cluster (cluster-admin on the local control plane). */
export async function getTestCluster(): Promise<KubeConfig> {
  return (await testCluster()).kubeConfig;
}

/** A kubeconfig file for the test cluster, for tests that start another process (e.g. the host CLI). */
export async function getTestKubeconfigPath(): Promise<string> {
  return (await testCluster()).kubeconfigPath;
}

/** A KubeConfig that authenticates as the ServiceAccount (via TokenRequest), to test with a restricted identity. */
export async function mintServiceAccountKubeconfig(ref: ServiceAccountRef): Promise<KubeConfig> {
  return mint(await getTestCluster(), ref);
}

function testCluster(): Promise<TestCluster> {
  cluster ??= connect();
  return cluster;
}

async function connect(): Promise<TestCluster> {
  const shared = process.env[TEST_KUBECONFIG_ENV];
  if (shared !== undefined && shared !== '') {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(shared);
    return { kubeConfig, kubeconfigPath: shared };
  }
  if (usingExistingCluster()) {
    if (!process.env.KUBECONFIG) {
      throw new Error(`${USE_EXISTING_CLUSTER_ENV}=1 needs KUBECONFIG pointing at the cluster to test against.`);
    }
    // KUBECONFIG may list several files; one merged file serves child processes too.
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const dir = mkdtempSync(join(tmpdir(), 'wasm-reconciler-kubeconfig-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeConfig.exportConfig(), { mode: 0o600 });
    return { kubeConfig, kubeconfigPath };
  }
  process.stderr.write(
    'No shared test cluster (WR_TEST_KUBECONFIG unset): starting a control plane for this process. ' +
      '`npm test` starts one for all files.\n',
  );
  const controlPlane = await startControlPlane();
  // The file's tests decide when the process ends; the exit hook then stops the control plane.
  controlPlane.unref();
  return { kubeConfig: controlPlane.kubeConfig, kubeconfigPath: controlPlane.kubeconfigPath };
}

/**
 * Creates a namespace named `<prefix>-<random>` and deletes it when the test ends. The deletion is not
 * awaited to completion: the namespace controller finishes it in the background.
 */
export async function createTestNamespace(t: Pick<TestContext, 'after'>, prefix: string): Promise<string> {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
  const name = `${base || 'test'}-${randomBytes(4).toString('hex')}`;
  const api = (await getTestCluster()).makeApiClient(CoreV1Api);
  await api.createNamespace({ body: { metadata: { name, labels: { [TEST_NAMESPACE_LABEL]: 'true' } } } });
  t.after(async () => {
    try {
      await api.deleteNamespace({ name });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
  });
  return name;
}

export { type WaitForOptions, waitFor } from './wait.ts';
