// Fencing on the real apiserver: a leader cut off from the API server loses its Lease, a standby takes over,
// and once the partition heals nothing the old leader wrote lands after the new one began to lead.
//
// Writes are attributed by identity, not by field manager (both hosts use the same one): each host runs as
// its own ServiceAccount, and a validating webhook that admits everything records who sent each write to the
// test namespace, and when it arrived, an audit of the apiserver's own admission chain.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, mintServiceAccountKubeconfig, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { createTestCa } from '../support/test-ca.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 250 };

interface Admitted {
  readonly user: string;
  readonly operation: string;
  readonly resource: string;
  readonly name: string;
  readonly holder: string | undefined;
  readonly at: number;
}

test('after a partition heals, no write of the old leader lands once the new leader leads', async (t) => {
  const admin = await KubeClient.fromKubeConfig(await getTestCluster());
  t.after(() => admin.close());
  await installCrd(admin, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(admin, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  const namespace = await createTestNamespace(t, 'fencing');
  const res = (apiVersion: string, kind: string) => admin.resource(apiVersion, kind);
  const create = async (apiVersion: string, kind: string, obj: Record<string, unknown>) =>
    admin.create(await res(apiVersion, kind), { apiVersion, kind, ...obj } as KubeObject);

  // The audit: every write admitted in the namespace, with the identity that sent it.
  const admitted: Admitted[] = [];
  /** Set to hold the next ConfigMap write of `user` in admission for a while, resolving when it arrives. */
  let holdNext: { user: string; arrived: () => void } | undefined;
  const ca = createTestCa();
  const leaf = ca.issue('audit');
  const caBundle = Buffer.from(ca.cert).toString('base64');
  ca.dispose();
  const audit = createServer({ cert: leaf.cert, key: leaf.key }, (req, resp) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const review = JSON.parse(body) as {
        request: {
          uid: string;
          operation: string;
          name?: string;
          resource: { resource: string };
          subResource?: string;
          userInfo: { username: string };
          object?: { spec?: { holderIdentity?: string } };
        };
      };
      const r = review.request;
      admitted.push({
        user: r.userInfo.username,
        operation: r.operation,
        resource: r.resource.resource + (r.subResource ? `/${r.subResource}` : ''),
        name: r.name ?? '',
        holder: r.object?.spec?.holderIdentity,
        at: Date.now(),
      });
      const answer = () =>
        resp.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: r.uid, allowed: true },
          }),
        );
      if (holdNext !== undefined && holdNext.user === r.userInfo.username && r.resource.resource === 'configmaps') {
        holdNext.arrived();
        holdNext = undefined;
        setTimeout(answer, 300);
      } else {
        answer();
      }
    });
  });
  await new Promise<void>((resolve) => audit.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => audit.close(() => resolve())));
  const webhookName = `audit-${namespace}`;
  await create('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', {
    metadata: { name: webhookName },
    webhooks: [
      {
        name: 'audit.wasmreconciler.dev',
        clientConfig: { url: `https://127.0.0.1:${(audit.address() as AddressInfo).port}/`, caBundle },
        rules: [
          { apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], operations: ['CREATE', 'UPDATE', 'DELETE'] },
        ],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
      },
    ],
  });
  t.after(async () =>
    admin.delete(
      await res('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'),
      undefined,
      webhookName,
    ),
  );

  // Two identities with the same rights in the namespace.
  await create('rbac.authorization.k8s.io/v1', 'Role', {
    metadata: { name: 'host', namespace },
    rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
  });
  const identities: Record<'a' | 'b', KubeConfig> = {} as never;
  for (const id of ['a', 'b'] as const) {
    await create('v1', 'ServiceAccount', { metadata: { name: `host-${id}`, namespace } });
    await create('rbac.authorization.k8s.io/v1', 'RoleBinding', {
      metadata: { name: `host-${id}`, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'host' },
      subjects: [{ kind: 'ServiceAccount', name: `host-${id}`, namespace }],
    });
    identities[id] = await mintServiceAccountKubeconfig({ namespace, name: `host-${id}` });
  }
  const userOf = (id: 'a' | 'b') => `system:serviceaccount:${namespace}:host-${id}`;
  // The audit is live once it has seen a write.
  await waitFor(
    async () => {
      await create('v1', 'ConfigMap', { metadata: { generateName: 'probe-', namespace } });
      return admitted.some((r) => r.resource === 'configmaps');
    },
    { timeoutMs: 20_000, intervalMs: 500, description: 'the audit webhook to be called' },
  );

  // A reaches the API server through the proxy, so the test can partition it; B connects directly.
  const server = new URL((await getTestCluster()).getCurrentCluster()!.server);
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
  t.after(() => proxy.close());
  const viaProxy = new KubeConfig();
  viaProxy.loadFromOptions({
    clusters: identities.a.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${proxy.port}` })),
    users: identities.a.users,
    contexts: identities.a.contexts,
    currentContext: identities.a.currentContext,
  });

  const wasm = readFileSync((await buildV1()).wasmPath).toString('base64');
  await create('wasmreconciler.dev/v1alpha1', 'WasmReconciler', {
    metadata: { name: 'apps', namespace },
    spec: {
      for: { apiVersion: APP, kind: 'App', namespaces: [namespace] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: wasm },
    },
  });
  const apps = await res(APP, 'App');
  await admin.create(apps, {
    apiVersion: APP,
    kind: 'App',
    metadata: { name: 'hello', namespace },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config: { n: '0' } },
  } as KubeObject);

  const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-fencing-'));
  t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
  let lostAt: number | undefined;
  const hostOptions = (id: 'a' | 'b', kubeConfig: KubeConfig) => ({
    kubeConfig,
    namespace,
    moduleCacheDir: path.join(cacheDir, id),
    logLevel: 'silent' as const,
    instance: id,
    guestWorkers: 1,
    leaderElection: {
      namespace,
      name: 'host',
      identity: id,
      ...TIMING,
      onLost: () => {
        if (id === 'a') lostAt = Date.now();
      },
    },
  });
  const a = await startHost(hostOptions('a', viaProxy));
  const hosts: Host[] = [a];
  t.after(() => Promise.all(hosts.map((h) => h.stop())));
  const bStarted = startHost(hostOptions('b', identities.b)).then((h) => {
    hosts.push(h);
    return h;
  });

  // Keep the reconciler busy: every change of the App is a new ConfigMap to apply.
  let n = 0;
  let churning = true;
  const churn = (async () => {
    while (churning) {
      await admin.request('PATCH', `/apis/demo.wasmreconciler.dev/v1alpha1/namespaces/${namespace}/apps/hello`, {
        body: { spec: { config: { n: String(++n) } } },
        contentType: 'application/merge-patch+json',
      });
      await sleep(50);
    }
  })();
  t.after(() => {
    churning = false;
    return churn;
  });
  const aWrites = () => admitted.filter((r) => r.user === userOf('a') && r.resource !== 'leases');
  await waitFor(() => aWrites().filter((r) => r.resource === 'configmaps').length >= 5, {
    description: 'the leader to apply ConfigMaps',
  });

  // Partition while A is in the middle of a reconcile: its ConfigMap apply reached the API server, whose
  // answer (and the Deployment apply that would follow it) is caught on the stalled path.
  await new Promise<void>((arrived) => {
    holdNext = { user: userOf('a'), arrived };
  });
  // Partition: A's path to the API server stalls; nothing errors, nothing arrives.
  const partitionAt = Date.now();
  proxy.pause();
  await bStarted;
  const bLeads = admitted.find((r) => r.user === userOf('b') && r.resource === 'leases' && r.holder === 'b')?.at;
  assert.ok(bLeads !== undefined, 'B took the Lease');
  await waitFor(() => lostAt !== undefined, { timeoutMs: 10_000, description: 'A to report the loss' }).catch(
    () => undefined,
  );
  // Heal, and let both run on for a while: anything A still held would arrive now.
  await sleep(500);
  const healAt = Date.now();
  proxy.resume();
  await sleep(3000);
  churning = false;
  await churn;
  await sleep(1000);

  const late = aWrites().filter((r) => r.at >= bLeads);
  const lastA = Math.max(...aWrites().map((r) => r.at));
  t.diagnostic(
    `partition->loss ${lostAt === undefined ? 'never reported' : `${lostAt - partitionAt} ms`}; ` +
      `partition->B leads ${bLeads - partitionAt} ms; heal at +${healAt - partitionAt} ms; ` +
      `last write of A at ${lostAt === undefined ? `+${lastA - partitionAt} ms from partition` : `${lastA - lostAt} ms from loss`}; ` +
      `writes of A after B leads: ${late.length}`,
  );
  assert.ok(lostAt !== undefined, 'A noticed the loss within its renew deadline');
  assert.ok(lostAt < bLeads, 'A stepped down before B led');
  assert.deepEqual(late, [], 'no write of the old leader lands after the new one leads');
  assert.ok(
    admitted.some((r) => r.user === userOf('b') && r.resource === 'configmaps' && r.at > bLeads),
    'B reconciles after taking over',
  );
});
