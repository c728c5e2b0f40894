// Proves the test cluster is a real Kubernetes API (CRDs, watches, RBAC, garbage collection) that stops cleanly.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import {
  ApiException,
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import { DATASTORES, isAlive, isPortFree, startControlPlane } from '../controlplane/index.ts';
import {
  createTestNamespace,
  getTestCluster,
  mintServiceAccountKubeconfig,
  usingExistingCluster,
  waitFor,
} from '../support/cluster.ts';

async function httpStatusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

test('a CRD can be installed, and its objects created, read and watched', async (t) => {
  const kc = await getTestCluster();
  const namespace = await createTestNamespace(t, 'crd');
  const suffix = randomBytes(3).toString('hex');
  const group = 'controlplane-test.wasm-reconciler.dev';
  const plural = `gizmos${suffix}`;
  const kind = `Gizmo${suffix}`;
  const crdName = `${plural}.${group}`;
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  await extensions.createCustomResourceDefinition({
    body: {
      metadata: { name: crdName },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural, singular: `gizmo${suffix}`, kind, listKind: `${kind}List` },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } }, required: ['size'] },
                },
              },
            },
          },
        ],
      },
    },
  });
  t.after(() => extensions.deleteCustomResourceDefinition({ name: crdName }));
  await waitFor(
    async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: crdName });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    },
    { description: `CRD ${crdName} to be established` },
  );

  const objects = kc.makeApiClient(CustomObjectsApi);
  const ref = { group, version: 'v1', namespace, plural };
  // List, then watch from the list's resourceVersion: the informer pattern, and proof the new REST
  // endpoint is served (it can trail the Established condition by a moment).
  const list = await waitFor(() => objects.listNamespacedCustomObject(ref), {
    description: `the ${plural} endpoint to be served`,
  });
  assert.deepEqual(list.items, []);
  const events: { type: string; name: string; size: number }[] = [];
  const watchEnded: unknown[] = [];
  const watch = await new Watch(kc).watch(
    `/apis/${group}/v1/namespaces/${namespace}/${plural}`,
    { resourceVersion: list.metadata.resourceVersion },
    (type, object) => events.push({ type, name: object.metadata.name, size: object.spec.size }),
    (err) => watchEnded.push(err),
  );
  t.after(() => watch.abort());
  await objects.createNamespacedCustomObject({
    ...ref,
    body: { apiVersion: `${group}/v1`, kind, metadata: { name: 'first' }, spec: { size: 1 } },
  });
  const stored = await objects.getNamespacedCustomObject({ ...ref, name: 'first' });
  assert.equal(stored.spec.size, 1);
  await objects.replaceNamespacedCustomObject({ ...ref, name: 'first', body: { ...stored, spec: { size: 2 } } });

  // The schema is enforced by the real API server, not by the client.
  assert.equal(
    await httpStatusOf(
      objects.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: `${group}/v1`, kind, metadata: { name: 'invalid' }, spec: { size: 0 } },
      }),
    ),
    422,
  );

  await waitFor(() => events.length >= 2 || watchEnded.length > 0, { description: 'ADDED and MODIFIED events' });
  assert.deepEqual(watchEnded, []);
  assert.deepEqual(events, [
    { type: 'ADDED', name: 'first', size: 1 },
    { type: 'MODIFIED', name: 'first', size: 2 },
  ]);
});

test('a ServiceAccount token may do what its Role grants and is refused (403) everything else', async (t) => {
  const kc = await getTestCluster();
  const namespace = await createTestNamespace(t, 'rbac');
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: 'configmap-reader' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: 'reader-reads-configmaps' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
    },
  });

  const reader = await mintServiceAccountKubeconfig({ namespace, name: 'reader' });
  const review = await reader.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
  assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${namespace}:reader`);

  const asReader = reader.makeApiClient(CoreV1Api);
  // The RBAC authorizer learns about new bindings through its informers, a moment after they are created.
  await waitFor(async () => (await httpStatusOf(asReader.listNamespacedConfigMap({ namespace }))) === 200, {
    description: 'the RoleBinding to take effect',
  });
  assert.equal(
    await httpStatusOf(asReader.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'nope' } } })),
    403,
  );
  assert.equal(await httpStatusOf(asReader.listNamespacedSecret({ namespace })), 403);
  assert.equal(await httpStatusOf(asReader.listNamespacedConfigMap({ namespace: 'default' })), 403);
});

test('deleting an owner garbage-collects its dependents', async (t) => {
  const kc = await getTestCluster();
  const namespace = await createTestNamespace(t, 'gc');
  const core = kc.makeApiClient(CoreV1Api);
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
  assert.ok(owner.metadata?.uid);
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name: 'child',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }],
      },
    },
  });
  await core.deleteNamespacedConfigMap({ namespace, name: 'owner', propagationPolicy: 'Background' });
  await waitFor(async () => (await httpStatusOf(core.readNamespacedConfigMap({ namespace, name: 'child' }))) === 404, {
    timeoutMs: 60_000,
    description: 'the garbage collector to delete the child',
  });
});

for (const datastore of DATASTORES) {
  test(`a second control plane on ${datastore} starts and stops without leaving processes, ports or files behind`, {
    skip: usingExistingCluster() && 'the harness self-test needs the local control plane (default mode)',
  }, async () => {
    const controlPlane = await startControlPlane({ flavour: { datastore }, report: () => {} });
    try {
      const namespaces = await controlPlane.kubeConfig.makeApiClient(CoreV1Api).listNamespace();
      assert.ok(namespaces.items.some((ns) => ns.metadata?.name === 'kube-system'));
      assert.deepEqual(
        controlPlane.processes.map((p) => p.name),
        [datastore, 'kube-apiserver', 'kube-controller-manager'],
      );
      assert.equal(controlPlane.versions.datastore, datastore);
      const version = await controlPlane.kubeConfig.makeApiClient(VersionApi).getCode();
      assert.equal(version.gitVersion, controlPlane.versions.kubernetes);
    } finally {
      await controlPlane.stop();
    }
    for (const { name, pid } of controlPlane.processes) assert.equal(isAlive(pid), false, `${name} (${pid}) survived`);
    for (const port of controlPlane.ports) assert.equal(await isPortFree(port), true, `port ${port} is still bound`);
    assert.equal(existsSync(controlPlane.dir), false);
  });
}
