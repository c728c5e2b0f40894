// Proves startController, the public builder for a native reconciler, on a real API server: the host's
// wiring (owner-UID index, executor port, field manager from the name), shared caches between two
// controllers, and a failed start that leaves a shared registry as it found it.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseLabelSelector } from '../../host/src/cache/index.ts';
import { controllerRegistry, startController } from '../../host/src/controller/index.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { APP_API_VERSION, APP_KIND, createAppReconciler } from '../fixtures/native/app-reconciler.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { APP_OWNS, appObject } from '../support/engine.ts';

const APP_CRD = path.join(import.meta.dirname, '../../examples/configmap-app/crd.yaml');

let client: KubeClient;
let apps: ApiResource;
let configMaps: ApiResource;

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, APP_CRD);
  apps = await client.resource(APP_API_VERSION, APP_KIND);
  configMaps = await client.resource('v1', 'ConfigMap');
});

after(() => client?.close());

async function configMapUid(ns: string, name: string): Promise<string | undefined> {
  try {
    return (await client.get(configMaps, ns, name)).metadata.uid;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

/** Deletes a child and waits for its controller to create it again: the owner-UID mapping at work. */
async function deleteAndAwaitRecreate(ns: string, name: string): Promise<void> {
  const before = await waitFor(() => configMapUid(ns, name), { description: `${name} to exist` });
  await client.delete(configMaps, ns, name);
  await waitFor(async () => ((await configMapUid(ns, name)) ?? before) !== before, {
    description: `${name} to be created again`,
  });
}

describe('startController', () => {
  test('runs a native reconciler the way the host runs a module', async (t) => {
    const ns = await createTestNamespace(t, 'builder-wiring');
    const started = await startController({
      client,
      name: 'apps',
      reconciler: createAppReconciler(),
      for: { apiVersion: APP_API_VERSION, kind: APP_KIND },
      owns: APP_OWNS,
      namespaces: [ns],
    });
    t.after(() => started.stop());

    await client.create(apps, appObject(ns, 'web', { K: 'v' }));
    const cm = await waitFor(() => client.get(configMaps, ns, 'web-config'), { description: 'the ConfigMap' });
    assert.deepEqual(cm.data, { K: 'v', message: 'hi' });
    assert.ok(
      (cm.metadata.managedFields as { manager?: string }[] | undefined)?.some(
        (f) => f.manager === 'wasm-reconciler/apps',
      ),
      'written by the executor under the reconciler name',
    );
    // A deleted child is an event on the ConfigMap cache: only the owner-UID index maps it to its App.
    await deleteAndAwaitRecreate(ns, 'web-config');
  });

  test('controllers on one controllerRegistry share its caches; a failed start releases what it took', async (t) => {
    const ns = await createTestNamespace(t, 'builder-shared');
    const registry = controllerRegistry(client);
    t.after(() => registry.close());
    const team = (name: string) =>
      startController({
        client,
        registry,
        name,
        reconciler: createAppReconciler(),
        for: { apiVersion: APP_API_VERSION, kind: APP_KIND, labelSelector: parseLabelSelector(`team=${name}`) },
        owns: APP_OWNS,
        namespaces: [ns],
      });

    const notServed = await startController({
      client,
      registry,
      name: 'broken',
      reconciler: createAppReconciler(),
      for: { apiVersion: APP_API_VERSION, kind: APP_KIND },
      owns: [{ apiVersion: 'example.invalid/v1', kind: 'Missing' }],
      namespaces: [ns],
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isWrError(notServed, 'WR_KUBE_NOT_FOUND'), `rejected with ${String(notServed)}`);
    assert.deepEqual(registry.stats(), [], 'the App cache it had opened is released');

    const a = await team('a');
    const b = await team('b');
    t.after(() => Promise.all([a.stop(), b.stop()]));
    for (const name of ['a', 'b']) {
      const app = appObject(ns, `app-${name}`, { K: name });
      app.metadata.labels = { team: name };
      await client.create(apps, app);
    }
    await waitFor(() => configMapUid(ns, 'app-a-config'), { description: "team a's ConfigMap" });
    await waitFor(() => configMapUid(ns, 'app-b-config'), { description: "team b's ConfigMap" });
    // Keys are "apiVersion/kind|namespace|selector": one App cache per selector, one cache per owned kind.
    const refsByKind = () =>
      registry
        .stats()
        .map((s) => `${s.key.split('|')[0]} x${s.refs}`)
        .sort();
    assert.deepEqual(
      refsByKind(),
      [`${APP_API_VERSION}/App x1`, `${APP_API_VERSION}/App x1`, 'apps/v1/Deployment x2', 'v1/ConfigMap x2'].sort(),
    );

    await a.stop();
    assert.deepEqual(refsByKind(), [`${APP_API_VERSION}/App x1`, 'apps/v1/Deployment x1', 'v1/ConfigMap x1'].sort());
    await deleteAndAwaitRecreate(ns, 'app-b-config');
  });
});
