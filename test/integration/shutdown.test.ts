// The host CLI on SIGTERM against the real apiserver: bounded exit with a reconcile in flight, the Lease
// released, 130 on a second signal.
//
// The in-flight work is a write the API server sits on: a validating webhook on the namespace's ConfigMaps
// points at a server that accepts connections and never answers, so the reconciler's apply of its child
// ConfigMap hangs for the webhook's 30 s timeout, far longer than the 5 s drain: the host must abort it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { before, test } from 'node:test';
import tls from 'node:tls';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { type HostCli, startHostCli } from '../support/host-cli.ts';
import { createTestCa } from '../support/test-ca.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';

let admin: KubeClient;
let wrs: ApiResource;
let apps: ApiResource;
let leases: ApiResource;
let webhooks: ApiResource;
let blackHole: tls.Server;
let caBundle: string;
let module: string;

before(async () => {
  admin = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(admin, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(admin, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  wrs = await admin.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  apps = await admin.resource(APP, 'App');
  leases = await admin.resource('coordination.k8s.io/v1', 'Lease');
  webhooks = await admin.resource('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration');
  module = readFileSync((await buildV1()).wasmPath).toString('base64');
  const ca = createTestCa();
  caBundle = Buffer.from(ca.cert).toString('base64');
  const leaf = ca.issue('webhook');
  ca.dispose();
  // Completes TLS, then reads requests and never answers: the API server waits out the webhook timeout.
  const held = new Set<tls.TLSSocket>();
  blackHole = tls.createServer({ cert: leaf.cert, key: leaf.key }, (socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  blackHole.unref();
});

/** Makes every ConfigMap create/update in `namespace` hang for 30 s in admission. */
async function stallConfigMaps(t: { after(fn: () => Promise<void>): void }, namespace: string): Promise<void> {
  const name = `stall-${namespace}`;
  await admin.create(webhooks, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: 'stall.wasmreconciler.dev',
        clientConfig: { url: `https://127.0.0.1:${(blackHole.address() as net.AddressInfo).port}/`, caBundle },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 30,
      },
    ],
  } as unknown as KubeObject);
  t.after(() => admin.delete(webhooks, undefined, name));
}

async function startCli(t: { after(fn: () => Promise<void>): void }, namespace: string): Promise<HostCli> {
  await stallConfigMaps(t, namespace);
  const host = await startHostCli(namespace, {
    args: [
      '--leader-elect',
      '--leader-election-namespace',
      namespace,
      '--leader-election-id',
      'host',
      '--guest-workers',
      '1',
    ],
  });
  await waitFor(() => host.output().includes('host started'), { timeoutMs: 30_000, description: 'host started' });
  // A reconcile whose first write (the App's ConfigMap) hangs in admission: in flight when the signal comes.
  await admin.create(apps, {
    apiVersion: APP,
    kind: 'App',
    metadata: { name: 'stalled', namespace },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config: {} },
  } as KubeObject);
  await admin.create(wrs, {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name: 'apps', namespace },
    spec: {
      for: { apiVersion: APP, kind: 'App', namespaces: [namespace] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: module },
    },
  } as KubeObject);
  const metricsUrl = /"metricsUrl":"http:\/\/[^:]+:(\d+)"/.exec(host.output())?.[1];
  assert.ok(metricsUrl !== undefined, host.output());
  await waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsUrl}/metrics`)).text();
      return /controller_runtime_active_workers\{[^}]*\} 1\b/.test(text);
    },
    { timeoutMs: 20_000, description: 'the stalled reconcile to be in flight' },
  );
  return host;
}

test('SIGTERM with a write stalled in admission: exits 0 within 10 s and releases the Lease', async (t) => {
  const namespace = await createTestNamespace(t, 'shutdown');
  const host = await startCli(t, namespace);
  t.after(() => host.child.kill('SIGKILL'));
  const lease = await admin.get(leases, namespace, 'host');
  assert.notEqual((lease.spec as { holderIdentity?: string }).holderIdentity ?? '', '');

  const sent = performance.now();
  host.child.kill('SIGTERM');
  const exit = await Promise.race([
    host.exited,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000).unref()),
  ]);
  assert.ok(exit !== undefined, `no exit within 15 s:\n${host.output()}`);
  const seconds = (exit.at - sent) / 1000;
  t.diagnostic(`SIGTERM to exit: ${seconds.toFixed(2)} s`);
  assert.equal(exit.code, 0, host.output());
  assert.ok(seconds < 10, `exit took ${seconds.toFixed(2)} s`);
  const released = await admin.get(leases, namespace, 'host');
  assert.equal(
    (released.spec as { holderIdentity?: string }).holderIdentity,
    '',
    `the Lease is released; the host said:\n${host.output()}`,
  );
});

test('a second signal exits at once with status 130', async (t) => {
  const namespace = await createTestNamespace(t, 'shutdown2');
  const host = await startCli(t, namespace);
  t.after(() => host.child.kill('SIGKILL'));
  host.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 100));
  host.child.kill('SIGTERM');
  const exit = await host.exited;
  assert.equal(exit.code, 130, host.output());
});
