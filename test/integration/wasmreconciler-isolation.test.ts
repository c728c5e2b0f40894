// WasmReconcilers never hold each other up or fight on a real apiserver: a kind that is not served or is
// forbidden fails fast and names the fix, a valid reconciler created next to it starts at once, two
// reconcilers of the same primaries are refused with Conflict, and a startup racing updates builds
// exactly one controller per WasmReconciler.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, mintServiceAccountKubeconfig, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';

let client: KubeClient;
let wrs: ApiResource;
let apps: ApiResource;
let v1: string;
let cacheDir: string;

type Cond = { type: string; status: string; reason: string; message: string };
async function ready(namespace: string, name: string): Promise<Cond | undefined> {
  const wr = await client.get(wrs, namespace, name);
  return ((wr.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
}

/** A WasmReconciler of Apps in `namespace`; `tier` gives it a label selector of its own (no Conflict). */
function wasmReconciler(
  namespace: string,
  name: string,
  options: { tier?: string; owns?: string[][]; for?: Record<string, unknown>; config?: Record<string, unknown> } = {},
): KubeObject {
  return {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name, namespace },
    spec: {
      for: options.for ?? {
        apiVersion: APP,
        kind: 'App',
        namespaces: [namespace],
        ...(options.tier === undefined ? {} : { labelSelector: { matchLabels: { tier: options.tier } } }),
      },
      owns: (options.owns ?? [['v1', 'ConfigMap']]).map(([apiVersion, kind]) => ({ apiVersion, kind })),
      module: { inline: v1 },
      ...(options.config === undefined ? {} : { config: options.config }),
    },
  } as KubeObject;
}

function app(namespace: string, name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: APP,
    kind: 'App',
    metadata: { name, namespace, labels },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config: { K: name } },
  } as KubeObject;
}

function startTestHost(namespace: string, kubeConfig?: Awaited<ReturnType<typeof getTestCluster>>): Promise<Host> {
  return (async () =>
    startHost({
      kubeConfig: kubeConfig ?? (await getTestCluster()),
      namespace,
      moduleCacheDir: cacheDir,
      logLevel: 'silent',
    }))();
}

/** Milliseconds until `fn` holds, measured from `since`. */
async function timeUntil(since: number, fn: () => Promise<boolean>, description: string, timeoutMs = 90_000) {
  await waitFor(fn, { description, timeoutMs, intervalMs: 50 });
  return Date.now() - since;
}

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  apps = await client.resource(APP, 'App');
  v1 = Buffer.from(readFileSync((await buildV1()).wasmPath)).toString('base64');
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-isolation-'));
});

after(() => {
  client?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

describe('WasmReconciler isolation', () => {
  test('a forbidden kind fails fast naming the rule, never delays a valid reconciler, and starts once granted', async (t) => {
    const ns = await createTestNamespace(t, 'wr-forbid');
    // The host runs as a ServiceAccount that may do everything it needs in `ns` except touch Deployments.
    const create = async (apiVersion: string, kind: string, body: Record<string, unknown>) =>
      client.create(await client.resource(apiVersion, kind), { apiVersion, kind, ...body } as KubeObject);
    await create('v1', 'ServiceAccount', { metadata: { name: 'host', namespace: ns } });
    const rules = [
      { apiGroups: ['wasmreconciler.dev'], resources: ['wasmreconcilers'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['wasmreconciler.dev'], resources: ['wasmreconcilers/status'], verbs: ['get', 'patch', 'update'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
      { apiGroups: ['demo.wasmreconciler.dev'], resources: ['apps'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: ['demo.wasmreconciler.dev'], resources: ['apps/status'], verbs: ['patch'] },
    ];
    const roles = await client.resource('rbac.authorization.k8s.io/v1', 'Role');
    await create('rbac.authorization.k8s.io/v1', 'Role', { metadata: { name: 'host', namespace: ns }, rules });
    await create('rbac.authorization.k8s.io/v1', 'RoleBinding', {
      metadata: { name: 'host', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'host' },
      subjects: [{ kind: 'ServiceAccount', name: 'host', namespace: ns }],
    });
    const restricted = await mintServiceAccountKubeconfig({ namespace: ns, name: 'host' });
    const asHost = await KubeClient.fromKubeConfig(restricted);
    t.after(() => asHost.close());
    // The RBAC authorizer learns about new bindings a moment after they are created.
    await waitFor(() => asHost.list(apps, { namespace: ns }), { description: 'the RoleBinding to take effect' });

    const host = await startTestHost(ns, restricted);
    t.after(() => host.stop());
    // Two reconcilers (the manager's queue width) whose Deployments the host may not list, then a valid one.
    const deployments = [
      ['v1', 'ConfigMap'],
      ['apps/v1', 'Deployment'],
    ];
    const since = Date.now();
    for (const name of ['forbidden-1', 'forbidden-2', 'forbidden-3']) {
      await client.create(wrs, wasmReconciler(ns, name, { tier: name, owns: deployments }));
    }
    await client.create(wrs, wasmReconciler(ns, 'valid', { tier: 'valid' }));
    const validMs = await timeUntil(since, async () => (await ready(ns, 'valid'))?.status === 'True', 'valid Ready');
    const forbiddenMs = await timeUntil(
      since,
      async () => (await ready(ns, 'forbidden-1'))?.reason === 'Forbidden',
      'forbidden-1 Ready=False Forbidden',
    );
    t.diagnostic(`valid Ready after ${validMs} ms; forbidden-1 reported after ${forbiddenMs} ms`);
    assert.ok(validMs < 10_000, `a valid WasmReconciler waits for no other (${validMs} ms)`);
    assert.ok(forbiddenMs < 10_000, `403 is reported at once (${forbiddenMs} ms)`);
    const cond = (await ready(ns, 'forbidden-1'))!;
    assert.equal(cond.status, 'False');
    assert.match(cond.message, /WR_KUBE_FORBIDDEN/);
    assert.match(cond.message, /resources: \["deployments"\]/);
    assert.match(cond.message, /apiGroups: \["apps"\]/);
    assert.match(cond.message, new RegExp(`in namespace ${ns}`));

    // Granting the rule starts it in the background, without touching the WasmReconciler.
    const role = await client.get(roles, ns, 'host');
    await client.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/host`, {
      body: {
        rules: [
          ...(role.rules as unknown[]),
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
        ],
      },
      contentType: 'application/merge-patch+json',
    });
    for (const name of ['forbidden-1', 'forbidden-2', 'forbidden-3']) {
      await waitFor(async () => (await ready(ns, name))?.status === 'True', {
        description: `${name} Ready once granted`,
        timeoutMs: 60_000,
      });
    }
  });

  test('a missing CRD fails fast naming it, never delays a valid reconciler, and starts once installed', async (t) => {
    const ns = await createTestNamespace(t, 'wr-nocrd');
    const host = await startTestHost(ns);
    t.after(() => host.stop());
    const group = `nope${Date.now().toString(36)}.example.com`;
    const since = Date.now();
    await client.create(
      wrs,
      wasmReconciler(ns, 'needs-crd', { for: { apiVersion: `${group}/v1`, kind: 'Widget', namespaces: [ns] } }),
    );
    // A spec Kubernetes cannot express is a spec error, reported at once.
    await client.create(
      wrs,
      wasmReconciler(ns, 'owns-namespaces', {
        tier: 'ns',
        owns: [
          ['v1', 'ConfigMap'],
          ['v1', 'Namespace'],
        ],
      }),
    );
    await client.create(wrs, wasmReconciler(ns, 'valid', { tier: 'valid' }));
    const missingMs = await timeUntil(
      since,
      async () => (await ready(ns, 'needs-crd'))?.reason === 'KindNotServed',
      'needs-crd Ready=False KindNotServed',
    );
    const validMs = await timeUntil(since, async () => (await ready(ns, 'valid'))?.status === 'True', 'valid Ready');
    const specMs = await timeUntil(
      since,
      async () => (await ready(ns, 'owns-namespaces'))?.reason === 'SpecInvalid',
      'owns-namespaces Ready=False SpecInvalid',
    );
    t.diagnostic(`needs-crd reported after ${missingMs} ms, valid Ready after ${validMs} ms, spec error ${specMs} ms`);
    assert.ok(missingMs < 5_000 && validMs < 5_000 && specMs < 5_000, 'all three within seconds');
    assert.match((await ready(ns, 'needs-crd'))!.message, new RegExp(`install the CRD for ${group}/v1`));
    assert.match((await ready(ns, 'owns-namespaces'))!.message, /spec\.owns\[1\]: v1 Namespace is cluster-scoped/);

    // Installing the CRD starts the first one in the background, without touching it.
    const dir = mkdtempSync(path.join(tmpdir(), 'wr-crd-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'crd.json');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      }),
    );
    const crd = await installCrd(client, file);
    t.after(async () => {
      const crds = await client.resource('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
      await client.delete(crds, undefined, crd.metadata.name).catch(() => undefined);
    });
    await waitFor(async () => (await ready(ns, 'needs-crd'))?.status === 'True', {
      description: 'needs-crd Ready once its CRD is installed',
      timeoutMs: 45_000,
    });
  });

  test('a second reconciler of the same primaries is refused with Conflict until the first is gone', async (t) => {
    const ns = await createTestNamespace(t, 'wr-conflict');
    const host = await startTestHost(ns);
    t.after(() => host.stop());
    const owns = [
      ['v1', 'ConfigMap'],
      ['apps/v1', 'Deployment'],
    ];
    await client.create(wrs, wasmReconciler(ns, 'first', { owns }));
    await waitFor(async () => (await ready(ns, 'first'))?.status === 'True', { description: 'first Ready' });
    // Same kind and namespace, no `owns` at all: were it to run, it would deny every App's children.
    const second = wasmReconciler(ns, 'second');
    (second.spec as { owns: unknown[] }).owns = [];
    await client.create(wrs, second);
    await waitFor(async () => (await ready(ns, 'second'))?.reason === 'Conflict', {
      description: 'second Ready=False Conflict',
    });
    assert.equal((await ready(ns, 'second'))!.status, 'False');
    assert.match((await ready(ns, 'second'))!.message, new RegExp(`WasmReconciler ${ns}/first already reconciles`));
    assert.equal(host.manager.controller(ns, 'second'), undefined);
    // The first keeps serving, and nobody stamps CapabilityDenied on the user's objects.
    await client.create(apps, app(ns, 'served'));
    const deployments = await client.resource('apps/v1', 'Deployment');
    await waitFor(() => client.get(deployments, ns, 'served'), { description: 'first reconciles' });
    await new Promise((r) => setTimeout(r, 500));
    const events = await client.list(await client.resource('v1', 'Event'), { namespace: ns });
    assert.deepEqual(
      events.items.filter((e) => e.reason === 'CapabilityDenied'),
      [],
      'the refused reconciler never ran',
    );
    // Removing the first lets the second start.
    await client.delete(wrs, ns, 'first');
    await waitFor(async () => (await ready(ns, 'second'))?.status === 'True', {
      description: 'second Ready once first is gone',
    });
  });

  test('a startup racing updates builds exactly one controller per WasmReconciler', async (t) => {
    const ns = await createTestNamespace(t, 'wr-race');
    const n = 12;
    const names = Array.from({ length: n }, (_, i) => `r${i}`);
    for (const name of names) {
      await client.create(wrs, wasmReconciler(ns, name, { tier: name }));
      await client.create(apps, app(ns, `app-${name}`, { tier: name }));
    }
    const patch = (name: string, round: number) =>
      client.request('PATCH', `/apis/wasmreconciler.dev/v1alpha1/namespaces/${ns}/wasmreconcilers/${name}`, {
        body: { spec: { config: { round: String(round) }, resyncPeriodSeconds: 30 + round } },
        contentType: 'application/merge-patch+json',
      });
    // Updates land while the manager lists and runs its initial syncs.
    const starting = startTestHost(ns);
    const updates = (async () => {
      for (let round = 1; round <= 4; round++) await Promise.all(names.map((name) => patch(name, round)));
    })();
    const host = await starting;
    t.after(() => host.stop());
    await updates;
    for (const name of names) {
      await waitFor(
        async () => {
          const wr = await client.get(wrs, ns, name);
          const cond = ((wr.status as { conditions?: Cond[] })?.conditions ?? []).find((c) => c.type === 'Ready');
          return cond?.status === 'True' && (wr.status as { observedGeneration?: number }).observedGeneration === 5;
        },
        { description: `${name} Ready at generation 5` },
      );
    }
    // One App watch per reconciler (its own selector), each held once; one shared ConfigMap watch held n times.
    const stats = host.registry.stats();
    const appWatches = stats.filter((s) => s.key.includes('/App|'));
    assert.equal(appWatches.length, n);
    assert.deepEqual(
      appWatches.map((s) => s.refs),
      names.map(() => 1),
      'one controller per WasmReconciler',
    );
    assert.equal(stats.find((s) => s.key.includes('/ConfigMap|'))?.refs, n);
    // Deleting them all releases every watch: nothing leaked to keep reconciling.
    for (const name of names) await client.delete(wrs, ns, name);
    await waitFor(() => host.registry.stats().every((s) => !s.key.includes('/App|')), {
      description: 'every App watch released',
    });
    assert.equal(
      host.registry.stats().find((s) => s.key.includes('/ConfigMap|')),
      undefined,
    );
  });
});
