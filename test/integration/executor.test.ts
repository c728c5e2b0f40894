// Proves the executor and worker against a real kube-apiserver: apply, skip, prune, status, events, finalizers.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { objectView } from '../../host/src/abi/testing/object-view.ts';
import type { KubeObject, ObjectView } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { Executor, type KindRef, type Permissions, updateFinalizer } from '../../host/src/executor/index.ts';
import { kubeExecutorClient } from '../../host/src/executor/kube-client-port.ts';
import { type ApiResource, KubeClient, objectPath } from '../../host/src/kube/index.ts';
import type { ChildReader, PrimaryReader } from '../../host/src/reconcile/snapshot.ts';
import type { Reconciler } from '../../host/src/reconcile/types.ts';
import { ReconcileWorker } from '../../host/src/reconcile/worker.ts';
import { APP_API_VERSION, createAppReconciler } from '../fixtures/native/app-reconciler.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';

const APP: KindRef = { apiVersion: APP_API_VERSION, kind: 'App', namespaced: true };
const CONFIG_MAP: KindRef = { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true };
const DEPLOYMENT: KindRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true };
const ALL: Permissions = [
  { apiGroups: ['', 'apps'], kinds: ['ConfigMap', 'Deployment'], verbs: ['create', 'patch', 'delete'] },
];
const APP_CRD: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'apps.demo.wasmreconciler.dev' },
  spec: {
    group: 'demo.wasmreconciler.dev',
    scope: 'Namespaced',
    names: { plural: 'apps', singular: 'app', kind: 'App', listKind: 'AppList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};

let client: KubeClient;
let apps: ApiResource;
let configMaps: ApiResource;
let deployments: ApiResource;

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  const crds = await client.resource('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  try {
    await client.create(crds, APP_CRD);
  } catch (err) {
    // Another test file of the same run may have installed it already.
    if (!isWrError(err, 'WR_KUBE_CONFLICT')) throw err;
  }
  await waitFor(
    async () => {
      const crd = await client.get(crds, undefined, 'apps.demo.wasmreconciler.dev');
      const conditions = (crd.status as { conditions?: Array<{ type: string; status: string }> })?.conditions ?? [];
      return conditions.some((c) => c.type === 'Established' && c.status === 'True');
    },
    { description: 'the App CRD to be established' },
  );
  apps = await waitFor(() => client.resource(APP_API_VERSION, 'App'), { description: 'App in discovery' });
  configMaps = await client.resource('v1', 'ConfigMap');
  deployments = await client.resource('apps/v1', 'Deployment');
});

after(() => client?.close());

/** Readers over a fresh list of the namespace, standing in for the cache (which has its own tests). */
class ApiSnapshot {
  #objects: KubeObject[] = [];
  readonly #views = new Map<KubeObject, ObjectView>();
  readonly namespace: string;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  async refresh(): Promise<void> {
    const lists = await Promise.all(
      [apps, configMaps, deployments].map((res) => client.list(res, { namespace: this.namespace })),
    );
    this.#objects = lists.flatMap((l) => l.items);
    this.#views.clear();
  }

  #view(object: KubeObject): ObjectView {
    let view = this.#views.get(object);
    if (view === undefined) {
      view = objectView(object);
      this.#views.set(object, view);
    }
    return view;
  }

  readonly primaries: PrimaryReader = {
    get: (namespace, name) => {
      const found = this.#objects.find(
        (o) => o.kind === 'App' && o.metadata.namespace === namespace && o.metadata.name === name,
      );
      return found === undefined ? undefined : this.#view(found);
    },
  };

  readonly children: ChildReader = {
    byOwner: (uid, kind) =>
      this.#objects
        .filter((o) => o.kind === kind.kind && o.apiVersion === kind.apiVersion)
        .filter((o) => o.metadata.ownerReferences?.some((r) => r.controller === true && r.uid === uid))
        .map((o) => this.#view(o)),
  };
}

/** The App reconciler plus a finalizer, so deletion goes through finalize. */
function withFinalizer(finalized: string[]): Reconciler {
  const app = createAppReconciler();
  return {
    async reconcile(request) {
      return { ...(await app.reconcile(request)), finalizer: 'ensure' };
    },
    async finalize(request) {
      finalized.push(request.primary.object().metadata.name);
      return { finalizer: 'release', events: [{ type: 'Normal', reason: 'Finalized', message: 'released' }] };
    },
  };
}

function setup(namespace: string, name: string, permissions: Permissions, reconciler: Reconciler) {
  const snapshot = new ApiSnapshot(namespace);
  const executor = new Executor({
    name,
    primary: APP,
    owns: [CONFIG_MAP, DEPLOYMENT],
    permissions,
    client: kubeExecutorClient(client),
    reportingInstance: 'executor-integration-test',
  });
  const worker = new ReconcileWorker({
    reconciler,
    executor,
    identity: { name },
    primaries: snapshot.primaries,
    children: snapshot.children,
  });
  return {
    async process(key: string) {
      await snapshot.refresh();
      const result = await worker.process(key, { reason: 'updated' });
      // Events are written asynchronously: the assertions below read them back from the API server.
      await executor.flushEvents();
      return result;
    },
  };
}

async function createApp(namespace: string, name: string, spec: Record<string, unknown>): Promise<KubeObject> {
  return client.create(apps, { apiVersion: APP_API_VERSION, kind: 'App', metadata: { name, namespace }, spec });
}

async function tryGet(res: ApiResource, namespace: string, name: string): Promise<KubeObject | undefined> {
  try {
    return await client.get(res, namespace, name);
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

async function eventsFor(namespace: string, uid: string | undefined): Promise<KubeObject[]> {
  const events = await client.list(await client.resource('v1', 'Event'), { namespace });
  return events.items.filter((e) => (e.involvedObject as { uid?: string }).uid === uid);
}

test('an App becomes owned children and status, then converges without writes', async (t) => {
  const namespace = await createTestNamespace(t, 'executor-apply');
  const finalized: string[] = [];
  const { process } = setup(namespace, 'apps-it', ALL, withFinalizer(finalized));
  const created = await createApp(namespace, 'hello', { image: 'nginx:1.27', replicas: 2, config: { A: '1', B: '2' } });

  const first = await process(`${namespace}/hello`);
  assert.equal(first.error, undefined, first.error?.message);
  assert.deepEqual([first.summary?.applied, first.summary?.finalizer, first.summary?.events], [2, 'added', 1]);

  const cm = await client.get(configMaps, namespace, 'hello-config');
  assert.deepEqual(cm.data, { A: '1', B: '2' });
  const [owner] = cm.metadata.ownerReferences ?? [];
  assert.deepEqual(owner, {
    apiVersion: APP_API_VERSION,
    kind: 'App',
    name: 'hello',
    uid: created.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  });
  const managers = (cm.metadata.managedFields as Array<{ manager: string; operation: string }>).map(
    (m) => `${m.manager}:${m.operation}`,
  );
  assert.ok(managers.includes('wasm-reconciler/apps-it:Apply'), managers.join(','));
  const deployment = await client.get(deployments, namespace, 'hello');
  assert.equal((deployment.spec as { replicas: number }).replicas, 2);

  const app = await client.get(apps, namespace, 'hello');
  assert.deepEqual(app.metadata.finalizers, ['wasmreconciler.dev/apps-it']);
  const status = app.status as { configMapName: string; observedGeneration: number; conditions: unknown[] };
  assert.equal(status.configMapName, 'hello-config');
  assert.equal(status.observedGeneration, 1);
  const [event] = await eventsFor(namespace, created.metadata.uid);
  assert.equal(event?.reason, 'Created');
  assert.equal(event?.reportingComponent, 'wasmreconciler.dev/apps-it');

  // The Deployment now exists, so the Ready condition moves from Creating to Progressing: one status write.
  const second = await process(`${namespace}/hello`);
  assert.deepEqual([second.summary?.applied, second.summary?.skipped, second.summary?.statusWritten], [0, 2, true]);
  const settled = await client.get(apps, namespace, 'hello');

  // Nothing changed: no apply, no status write, the App's resourceVersion stays put.
  const third = await process(`${namespace}/hello`);
  assert.deepEqual(
    [third.summary?.applied, third.summary?.skipped, third.summary?.statusWritten, third.summary?.finalizer],
    [0, 2, false, 'none'],
  );
  assert.equal((await client.get(apps, namespace, 'hello')).metadata.resourceVersion, settled.metadata.resourceVersion);

  // A key dropped from spec.config disappears from the ConfigMap: only an apply by our manager removes it.
  await client.request('PATCH', objectPath(apps, namespace, 'hello'), {
    body: { spec: { config: { A: '1', B: null } } },
    contentType: 'application/merge-patch+json',
  });
  const fourth = await process(`${namespace}/hello`);
  assert.equal(fourth.summary?.applied, 2, 'the ConfigMap and the Deployment (config hash) change');
  assert.deepEqual((await client.get(configMaps, namespace, 'hello-config')).data, { A: '1' });
  assert.equal(
    ((await client.get(apps, namespace, 'hello')).status as { observedGeneration: number }).observedGeneration,
    2,
  );
});

test('prune deletes controller-owned children no longer desired and nothing else', async (t) => {
  const namespace = await createTestNamespace(t, 'executor-prune');
  const { process } = setup(namespace, 'apps-prune', ALL, createAppReconciler());
  const app = await createApp(namespace, 'web', { image: 'nginx:1.27' });
  const ref = { apiVersion: APP_API_VERSION, kind: 'App', name: 'web', uid: app.metadata.uid ?? '' };
  await client.create(configMaps, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'stale', namespace, ownerReferences: [{ ...ref, controller: true }] },
  });
  await client.create(configMaps, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'bystander', namespace, ownerReferences: [{ ...ref, controller: false }] },
  });

  const result = await process(`${namespace}/web`);
  assert.equal(result.error, undefined, result.error?.message);
  assert.deepEqual([result.summary?.applied, result.summary?.pruned], [2, 1]);
  await waitFor(async () => (await tryGet(configMaps, namespace, 'stale')) === undefined, {
    description: 'the stale ConfigMap to be deleted',
  });
  assert.ok(await tryGet(configMaps, namespace, 'bystander'));
  assert.ok(await tryGet(configMaps, namespace, 'web-config'));
});

test('a denied output writes nothing but a Warning event', async (t) => {
  const namespace = await createTestNamespace(t, 'executor-denied');
  const configMapsOnly: Permissions = [{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['create', 'patch', 'delete'] }];
  const { process } = setup(namespace, 'apps-denied', configMapsOnly, withFinalizer([]));
  const app = await createApp(namespace, 'blocked', { image: 'nginx:1.27' });

  const result = await process(`${namespace}/blocked`);
  assert.ok(isWrError(result.error, 'WR_CAPABILITY_DENIED'));
  assert.equal(result.error.retryable, false);
  assert.equal(await tryGet(configMaps, namespace, 'blocked-config'), undefined);
  const stored = await client.get(apps, namespace, 'blocked');
  assert.equal(stored.metadata.finalizers, undefined);
  assert.equal(stored.status, undefined);
  const events = await eventsFor(namespace, app.metadata.uid);
  assert.deepEqual(
    events.map((e) => [e.type, e.reason]),
    [['Warning', 'CapabilityDenied']],
  );
});

test('finalizers: a stale resourceVersion conflicts and is retried; deletion waits for finalize', async (t) => {
  const namespace = await createTestNamespace(t, 'executor-finalize');
  const finalized: string[] = [];
  const { process } = setup(namespace, 'apps-fin', ALL, withFinalizer(finalized));
  const stale = await createApp(namespace, 'bye', { image: 'nginx:1.27' });
  // Move the object on so the copy we hold is stale: the first patch must get a real 409.
  await client.request('PATCH', objectPath(apps, namespace, 'bye'), {
    body: { metadata: { labels: { touched: 'yes' } } },
    contentType: 'application/merge-patch+json',
  });
  const ports = kubeExecutorClient(client);
  let conflicts = 0;
  const counting = {
    get: ports.get,
    patchMetadata: async (...args: Parameters<typeof ports.patchMetadata>) => {
      try {
        return await ports.patchMetadata(...args);
      } catch (err) {
        if (isWrError(err, 'WR_KUBE_CONFLICT')) conflicts++;
        throw err;
      }
    },
  };
  assert.equal(await updateFinalizer(counting, stale, 'wasmreconciler.dev/apps-fin', 'ensure'), 'added');
  assert.equal(conflicts, 1);
  const labelled = await client.get(apps, namespace, 'bye');
  assert.deepEqual(labelled.metadata.labels, { touched: 'yes' }, 'the concurrent write survived');

  assert.equal((await process(`${namespace}/bye`)).error, undefined);
  assert.ok(await tryGet(configMaps, namespace, 'bye-config'));

  await client.delete(apps, namespace, 'bye');
  const deleting = await client.get(apps, namespace, 'bye');
  assert.ok(deleting.metadata.deletionTimestamp, 'our finalizer holds the App');
  const result = await process(`${namespace}/bye`);
  assert.deepEqual([result.outcome, result.summary?.finalizer], ['finalized', 'removed']);
  assert.deepEqual(finalized, ['bye']);
  await waitFor(async () => (await tryGet(apps, namespace, 'bye')) === undefined, { description: 'the App to go' });
  // Owner references hand the children to the garbage collector (kube-controller-manager).
  await waitFor(async () => (await tryGet(configMaps, namespace, 'bye-config')) === undefined, {
    description: 'the ConfigMap to be garbage-collected',
    timeoutMs: 60_000,
  });
  assert.deepEqual(await process(`${namespace}/bye`), { outcome: 'skipped' });
});

test('a repeated event aggregates into one Event whose count follows the repeats', async (t) => {
  const namespace = await createTestNamespace(t, 'executor-events');
  const reconciler: Reconciler = {
    reconcile: async () => ({
      events: [{ type: 'Warning', reason: 'MissingCRD', message: 'demo.io/v1 Widget is not served' }],
    }),
  };
  const { process } = setup(namespace, 'apps-events', ALL, reconciler);
  const app = await createApp(namespace, 'noisy', { image: 'nginx:1.27' });
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await process(`${namespace}/noisy`));
  assert.deepEqual(
    results.map((r) => [r.summary?.events, r.summary?.eventsSuppressed]),
    [[1, 0], ...Array(4).fill([0, 1])],
  );
  const events = await eventsFor(namespace, app.metadata.uid);
  assert.equal(events.length, 1, 'one Event, not five');
  assert.equal(events[0]?.count, 5);
  assert.equal(events[0]?.reason, 'MissingCRD');
});
