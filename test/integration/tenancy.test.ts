// The tenancy boundary on a real apiserver, with two tenants' own identities (ServiceAccount tokens bound to
// deploy/rbac's tenant role): each tenant may create WasmReconcilers in its namespace only, never a
// ClusterWasmReconciler; each WasmReconciler reconciles, writes and reads only in its own namespace, whatever
// its spec asks; and a ClusterWasmReconciler made by the administrator reaches both namespaces and goes before
// the tenants' reconcilers of the same objects.
//
// The host runs cluster-wide (as it does in deploy/), so that confinement is the host's doing and not an
// artefact of a namespace-scoped host; a label selector keeps it to this file's reconcilers on the shared
// control plane.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAll } from 'js-yaml';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, mintServiceAccountKubeconfig, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const WR = 'wasmreconciler.dev/v1alpha1';
const APP = 'demo.wasmreconciler.dev/v1alpha1';
/** This file's reconcilers carry it; the host serves nothing else on the shared control plane. */
const RUN_LABEL = 'wasmreconciler.dev/test-tenancy';
const RUN = randomBytes(4).toString('hex');

let admin: KubeClient;
let wrs: ApiResource;
let cwrs: ApiResource;
let apps: ApiResource;
let configMaps: ApiResource;
let module: string;
let cacheDir: string;
let host: Host;
/** Cluster-scoped objects this file made, removed after it. */
const clusterObjects: { res: ApiResource; name: string }[] = [];

type Cond = { type: string; status: string; reason: string; message: string };
function readyOf(o: KubeObject): Cond | undefined {
  return ((o.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
}

function reconciler(kind: 'WasmReconciler' | 'ClusterWasmReconciler', name: string, spec: Record<string, unknown>) {
  return (namespace: string | undefined): KubeObject =>
    ({
      apiVersion: WR,
      kind,
      metadata: { name, ...(namespace === undefined ? {} : { namespace }), labels: { [RUN_LABEL]: RUN } },
      spec: {
        owns: [
          { apiVersion: 'v1', kind: 'ConfigMap' },
          { apiVersion: 'apps/v1', kind: 'Deployment' },
        ],
        module: { inline: module },
        ...spec,
      },
    }) as KubeObject;
}

function app(namespace: string, name: string): KubeObject {
  return {
    apiVersion: APP,
    kind: 'App',
    metadata: { name, namespace },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config: { K: name } },
  } as KubeObject;
}

/** The field managers that have written the App's ConfigMap child: who reconciled it. */
async function writersOf(namespace: string, appName: string): Promise<string[]> {
  try {
    const cm = await admin.get(configMaps, namespace, `${appName}-config`);
    const fields = (cm.metadata.managedFields ?? []) as { manager?: string }[];
    return [...new Set(fields.map((f) => f.manager ?? ''))].sort();
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return [];
    throw err;
  }
}

async function waitReady(res: ApiResource, namespace: string | undefined, name: string, status = 'True') {
  let last: Cond | undefined;
  try {
    await waitFor(
      async () => {
        last = readyOf(await admin.get(res, namespace, name));
        return last?.status === status;
      },
      { description: `${name} Ready=${status}`, timeoutMs: 60_000 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; its Ready was last ${JSON.stringify(last)}`, { cause: err });
  }
  return last!;
}

/** A tenant: a ServiceAccount in its namespace bound to deploy/rbac's tenant role there, and a client as it. */
async function tenant(t: { after: (fn: () => unknown) => void }, prefix: string, role: string) {
  const namespace = await createTestNamespace(t, prefix);
  const create = async (apiVersion: string, kind: string, body: Record<string, unknown>) =>
    admin.create(await admin.resource(apiVersion, kind), { apiVersion, kind, ...body } as KubeObject);
  await create('v1', 'ServiceAccount', { metadata: { name: 'tenant', namespace } });
  await create('rbac.authorization.k8s.io/v1', 'RoleBinding', {
    metadata: { name: 'tenant', namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace }],
  });
  // Tenants manage their own Apps too (the role a platform team would give them beside ours).
  await create('rbac.authorization.k8s.io/v1', 'Role', {
    metadata: { name: 'apps', namespace },
    rules: [{ apiGroups: ['demo.wasmreconciler.dev'], resources: ['apps'], verbs: ['create', 'get', 'list'] }],
  });
  await create('rbac.authorization.k8s.io/v1', 'RoleBinding', {
    metadata: { name: 'apps', namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'apps' },
    subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace }],
  });
  const client = await KubeClient.fromKubeConfig(await mintServiceAccountKubeconfig({ namespace, name: 'tenant' }));
  t.after(() => client.close());
  // The authorizer sees new bindings a moment after they are made.
  await waitFor(() => client.list(wrs, { namespace }), { description: `the ${prefix} tenant's RoleBinding` });
  return { namespace, client };
}

async function forbidden(what: Promise<unknown>): Promise<string> {
  try {
    await what;
  } catch (err) {
    assert.ok(isWrError(err, 'WR_KUBE_FORBIDDEN'), String(err));
    return err.message;
  }
  assert.fail('expected the API server to refuse (403)');
}

before(async () => {
  admin = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(admin, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(admin, path.join(ROOT, 'deploy/crd/clusterwasmreconciler.yaml'));
  await installCrd(admin, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  wrs = await admin.resource(WR, 'WasmReconciler');
  cwrs = await admin.resource(WR, 'ClusterWasmReconciler');
  apps = await admin.resource(APP, 'App');
  configMaps = await admin.resource('v1', 'ConfigMap');
  module = Buffer.from(readFileSync((await buildV1()).wasmPath)).toString('base64');
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-tenancy-'));
  host = await startHost({
    kubeConfig: await getTestCluster(),
    watchLabelSelector: `${RUN_LABEL}=${RUN}`,
    moduleCacheDir: cacheDir,
    logLevel: 'silent',
  });
});

after(async () => {
  await host?.stop();
  for (const { res, name } of clusterObjects) {
    await admin.delete(res, undefined, name).catch(() => undefined);
  }
  admin?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

describe('tenancy: WasmReconciler is confined to its namespace, ClusterWasmReconciler is not', () => {
  test('two tenants, each confined; the administrator reaches both and goes first', async (t) => {
    // deploy/rbac's tenant role, under a name of this run's own (the deploy test owns the real one).
    const [tenantRole] = (
      loadAll(readFileSync(path.join(ROOT, 'deploy/rbac/tenant-roles.yaml'), 'utf8')) as KubeObject[]
    )
      .filter((o) => o.metadata.name === 'wasm-reconciler-admin')
      .map((o) => ({ ...o, metadata: { name: `wasm-reconciler-admin-${RUN}` } }) as KubeObject);
    const clusterRoles = await admin.resource('rbac.authorization.k8s.io/v1', 'ClusterRole');
    await admin.create(clusterRoles, tenantRole!);
    clusterObjects.push({ res: clusterRoles, name: tenantRole!.metadata.name });

    const a = await tenant(t, 'tenant-a', tenantRole!.metadata.name);
    const b = await tenant(t, 'tenant-b', tenantRole!.metadata.name);
    for (const x of [a, b]) await x.client.create(apps, app(x.namespace, 'web'));

    // RBAC: a tenant creates WasmReconcilers in its own namespace only, and never the cluster-scoped kind.
    const apps0 = reconciler('WasmReconciler', 'apps', { for: { apiVersion: APP, kind: 'App' } });
    assert.match(await forbidden(a.client.create(wrs, apps0(b.namespace))), /forbidden/i);
    const fleet = reconciler('ClusterWasmReconciler', `fleet-${RUN}`, {
      for: { apiVersion: APP, kind: 'App', namespaces: [a.namespace, b.namespace] },
    });
    assert.match(await forbidden(a.client.create(cwrs, fleet(undefined))), /forbidden/i);

    // Each tenant's reconciler of Apps in every namespace it may name (none given: "all" for a cluster one)
    // reconciles its own namespace's App alone, although both have the same name and kind.
    for (const x of [a, b]) {
      await x.client.create(
        wrs,
        reconciler('WasmReconciler', `apps-${x === a ? 'a' : 'b'}`, {
          for: { apiVersion: APP, kind: 'App' },
        })(x.namespace),
      );
    }
    await waitReady(wrs, a.namespace, 'apps-a');
    await waitReady(wrs, b.namespace, 'apps-b');
    await waitFor(async () => (await writersOf(a.namespace, 'web')).includes('wasm-reconciler/apps-a'), {
      description: "tenant a's App reconciled",
    });
    await waitFor(async () => (await writersOf(b.namespace, 'web')).includes('wasm-reconciler/apps-b'), {
      description: "tenant b's App reconciled",
    });
    // A late write by the other tenant's reconciler would show up here: both converged, each alone.
    assert.deepEqual(await writersOf(a.namespace, 'web'), ['wasm-reconciler/apps-a']);
    assert.deepEqual(await writersOf(b.namespace, 'web'), ['wasm-reconciler/apps-b']);

    // A spec that asks for another namespace, in for or in its read grants, is refused by the host (the CRD
    // cannot see metadata.namespace), naming the cluster-scoped kind as the way.
    await a.client.create(
      wrs,
      reconciler('WasmReconciler', 'reach', {
        for: { apiVersion: APP, kind: 'App', namespaces: [b.namespace], labelSelector: { matchLabels: { x: 'y' } } },
      })(a.namespace),
    );
    const reach = await waitReady(wrs, a.namespace, 'reach', 'False');
    assert.equal(reach.reason, 'SpecInvalid');
    assert.match(reach.message, new RegExp(`names ${b.namespace}: a WasmReconciler acts only in its own namespace`));
    assert.match(reach.message, /ClusterWasmReconciler/);
    await a.client.create(
      wrs,
      reconciler('WasmReconciler', 'peek', {
        for: { apiVersion: APP, kind: 'App', labelSelector: { matchLabels: { x: 'z' } } },
        permissions: [{ apiVersion: 'v1', kind: 'Secret', verbs: ['get'], namespaces: ['kube-system'] }],
      })(a.namespace),
    );
    const peek = await waitReady(wrs, a.namespace, 'peek', 'False');
    assert.equal(peek.reason, 'SpecInvalid');
    assert.match(peek.message, /spec\.permissions\[0\]\.namespaces: names kube-system/);

    // Cluster-scoped kinds are outside every namespace: refused as primary, child or read.
    await a.client.create(
      wrs,
      reconciler('WasmReconciler', 'nodes', {
        // Another primary kind: the Apps of this namespace are taken (by apps-a, which keeps them).
        for: { apiVersion: 'v1', kind: 'Secret' },
        related: [{ apiVersion: 'v1', kind: 'Namespace' }],
      })(a.namespace),
    );
    const nodes = await waitReady(wrs, a.namespace, 'nodes', 'False');
    assert.equal(nodes.reason, 'SpecInvalid');
    assert.match(nodes.message, /spec\.related\[0\]: v1 Namespace is cluster-scoped/);

    // The administrator's ClusterWasmReconciler of the same Apps goes first: both tenants' reconcilers step
    // back with Conflict naming it, and it reconciles both namespaces.
    await admin.create(cwrs, fleet(undefined));
    clusterObjects.push({ res: cwrs, name: `fleet-${RUN}` });
    await waitReady(cwrs, undefined, `fleet-${RUN}`);
    for (const [x, name] of [
      [a, 'apps-a'],
      [b, 'apps-b'],
    ] as const) {
      const conflict = await waitReady(wrs, x.namespace, name, 'False');
      assert.equal(conflict.reason, 'Conflict');
      assert.match(conflict.message, new RegExp(`ClusterWasmReconciler fleet-${RUN} already reconciles App`));
    }
    // Its writes reach both namespaces (an App change makes it write; the tenants' managers stay as they were).
    for (const x of [a, b]) {
      await admin.request('PATCH', `/apis/${APP}/namespaces/${x.namespace}/apps/web`, {
        body: { spec: { config: { K: 'from the fleet' } } },
        contentType: 'application/merge-patch+json',
      });
      await waitFor(async () => (await writersOf(x.namespace, 'web')).includes(`wasm-reconciler/fleet-${RUN}`), {
        description: `the ClusterWasmReconciler to reconcile ${x.namespace}/web`,
      });
    }

    // Once it is gone, the tenants' reconcilers start again by themselves.
    await admin.delete(cwrs, undefined, `fleet-${RUN}`);
    await waitReady(wrs, a.namespace, 'apps-a');
    await waitReady(wrs, b.namespace, 'apps-b');
  });
});
