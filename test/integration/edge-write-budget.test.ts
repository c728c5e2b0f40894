// The edge write budget on kine: once converged, a host writes nothing to the API server, Lease renewals aside.
//
// On a single-node k3s every write is a SQLite row (kine keeps each revision until compaction), so a steady
// state that keeps writing wears the node's storage for nothing. The test runs its own control plane on
// kine, not the shared one: apiserver_request_total has no user label, so only a cluster nobody else writes
// to gives an exact count. The host runs leader-elected, as deployed, with the default resync (a day): in
// the window its watches get bookmarks (about one a minute each), silence probes run every 10 s and the
// Lease is renewed every 2 s, and none of that may turn into a write.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { type ControlPlane, startControlPlane } from '../controlplane/index.ts';
import { requestsBetween, scrapeRequestCounts } from '../support/apiserver-requests.ts';
import { waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';
const NAMESPACE = 'edge';
const APPS = 20;
const WINDOW_MS = 3 * 60_000;
/** No write for this long after convergence: the status and event writes that follow a reconcile are done. */
const QUIET_MS = 15_000;
/** apiserver_request_total verbs that change stored state: APPLY is server-side apply, which the host uses. */
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

test('a converged steady state on kine writes nothing for 3 minutes, Lease renewals aside', {
  timeout: WINDOW_MS + 4 * 60_000,
}, async (t) => {
  // Everything inside the test, cleaned up by t.after: a filtered-out test starts nothing.
  const controlPlane = await startControlPlane({ flavour: { datastore: 'kine' }, report: () => {} });
  t.after(() => controlPlane.stop());
  const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
  t.after(() => client.close());
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-edge-budget-'));
  t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
  assert.equal(controlPlane.versions.datastore, 'kine');
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  const namespaces = await client.resource('v1', 'Namespace');
  await client.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } as KubeObject);
  const wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  const apps = await client.resource(APP, 'App');
  const configMaps = await client.resource('v1', 'ConfigMap');

  const host = await startHost({
    kubeConfig: controlPlane.kubeConfig,
    namespace: NAMESPACE,
    moduleCacheDir: cacheDir,
    logLevel: 'silent',
    leaderElection: { namespace: NAMESPACE, name: 'wasm-reconciler', identity: 'edge-budget-host' },
  });
  t.after(() => host.stop());

  const module = readFileSync((await buildV1()).wasmPath).toString('base64');
  await client.create(wrs, {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name: 'apps', namespace: NAMESPACE },
    spec: {
      for: { apiVersion: APP, kind: 'App', namespaces: [NAMESPACE] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: module },
    },
  } as KubeObject);
  const names = Array.from({ length: APPS }, (_, i) => `app-${i}`);
  for (const name of names) {
    await client.create(apps, {
      apiVersion: APP,
      kind: 'App',
      metadata: { name, namespace: NAMESPACE },
      // No replicas: this control plane runs no Deployment controller, and with 0 of 0 ready an App is Ready,
      // its final state, once its Deployment exists.
      spec: { image: 'registry.example/hello:1', replicas: 0, message: 'hi', config: { SITE: name } },
    } as KubeObject);
  }

  // Converged: every App's ConfigMap rendered and its status Ready, the WasmReconciler Ready.
  await waitFor(
    async () => {
      const listed = await client.list(configMaps, { namespace: NAMESPACE });
      return names.every((n) => listed.items.some((cm) => cm.metadata.name === `${n}-config`));
    },
    { timeoutMs: 120_000, description: 'every App has its ConfigMap' },
  );
  await waitFor(
    async () => {
      const listed = await client.list(apps, { namespace: NAMESPACE });
      return listed.items.length === APPS && listed.items.every((a) => isReady(a.status));
    },
    { timeoutMs: 120_000, description: 'every App Ready' },
  );
  await waitFor(async () => isReady((await client.get(wrs, NAMESPACE, 'apps')).status), {
    description: 'the WasmReconciler Ready',
  });
  await waitForQuiet(controlPlane);

  const hostWritesBefore = await hostWrites(host);
  // The converge just wrote (at most QUIET_MS and the Ready waits ago): the one-minute gauge shows it.
  assert.ok((await counterTotal(host, 'wasm_reconciler_api_writes_last_minute')) > 0, 'writes of the last minute');
  const before = await writeCounts(controlPlane.kubeConfig, controlPlane.server);
  const reconcilesBefore = await reconciles(host);
  await sleep(WINDOW_MS);
  const afterCounts = await writeCounts(controlPlane.kubeConfig, controlPlane.server);

  const delta = requestsBetween(before, afterCounts);
  const leases = [...delta].filter(([key]) => isLease(key));
  const others = [...delta].filter(([key]) => !isLease(key));
  t.diagnostic(`reconciles in the window: ${(await reconciles(host)) - reconcilesBefore}`);
  t.diagnostic(`Lease writes in the window (allowed): ${leases.map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
  assert.deepEqual(Object.fromEntries(others), {}, 'writes other than Lease renewals while converged');
  assert.equal(await hostWrites(host), hostWritesBefore, "the host's own write counter moved");
  assert.equal(await counterTotal(host, 'wasm_reconciler_api_writes_last_minute'), 0, 'the edge write budget gauge');
  assert.ok(
    leases.some(([key]) => key.startsWith('PUT coordination.k8s.io/leases')),
    'the leader renewed its Lease (the window saw a running host)',
  );
});

function isReady(status: unknown): boolean {
  const conditions = (status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

function isLease(key: string): boolean {
  return key.split(' ')[1] === 'coordination.k8s.io/leases';
}

/** Waits until a QUIET_MS window passes with no write but Lease renewals. */
async function waitForQuiet(cp: ControlPlane): Promise<void> {
  let last = await writeCounts(cp.kubeConfig, cp.server);
  await waitFor(
    async () => {
      await sleep(QUIET_MS);
      const now = await writeCounts(cp.kubeConfig, cp.server);
      const moved = [...requestsBetween(last, now).keys()].some((key) => !isLease(key));
      last = now;
      return !moved;
    },
    { timeoutMs: 120_000, intervalMs: 0, description: `${QUIET_MS / 1000} s without a write after convergence` },
  );
}

/** Write requests the API server counted, keyed "VERB group/resource[/subresource][ code]". */
async function writeCounts(kubeConfig: KubeConfig, server: string): Promise<Map<string, number>> {
  const all = await scrapeRequestCounts(kubeConfig, server);
  return new Map([...all].filter(([key]) => WRITE_VERBS.has(key.split(' ')[0] ?? '')));
}

/** Sum of a counter over all its label sets, from the host's own registry. */
async function counterTotal(host: Host, name: string): Promise<number> {
  const metric = host.metrics.registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}

function hostWrites(host: Host): Promise<number> {
  return counterTotal(host, 'wasm_reconciler_api_writes_total');
}

function reconciles(host: Host): Promise<number> {
  return counterTotal(host, 'controller_runtime_reconcile_total');
}
