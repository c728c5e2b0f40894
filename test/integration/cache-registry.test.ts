// Proves against a real kube-apiserver that consumers of one kind and namespace share a single list and watch.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReflectorRegistry, type StoreEvent } from '../../host/src/cache/index.ts';
import { KubeClient } from '../../host/src/kube/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';

test('two consumers of ConfigMaps in one namespace share one reflector; the last release stops it', async (t) => {
  const kc = await getTestCluster();
  const namespace = await createTestNamespace(t, 'cache-share');
  const client = await KubeClient.fromKubeConfig(kc);
  const registry = new ReflectorRegistry(client);
  t.after(async () => {
    await registry.close();
    client.close();
  });
  const configMaps = await client.resource('v1', 'ConfigMap');
  await client.create(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pre', namespace } });

  const first = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace });
  const second = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace });
  const labelled = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace, labelSelector: 'team=a' });
  await Promise.all([first.synced, second.synced, labelled.synced]);
  const seen = { first: [] as string[], second: [] as string[], labelled: [] as string[] };
  // The controller manager adds kube-root-ca.crt to every namespace at a moment of its choosing.
  const record = (into: string[]) => (e: StoreEvent) => {
    if (e.object.name !== 'kube-root-ca.crt') into.push(`${e.type}:${e.object.name}`);
  };
  first.subscribe(record(seen.first));
  second.subscribe(record(seen.second));
  labelled.subscribe(record(seen.labelled));

  await client.create(configMaps, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'team-a', namespace, labels: { team: 'a' } },
  });
  await waitFor(() => seen.first.length === 2 && seen.second.length === 2 && seen.labelled.length === 1, {
    description: 'events at every consumer',
  });
  assert.deepEqual(seen.first, ['added:pre', 'added:team-a']);
  assert.deepEqual(seen.second, ['added:pre', 'added:team-a']);
  assert.deepEqual(seen.labelled, ['added:team-a']);
  assert.equal(first.reader, second.reader);
  assert.deepEqual(
    labelled.reader.list().map((o) => o.name),
    ['team-a'],
  );

  const stats = registry.stats();
  const shared = stats.find((s) => s.key === `v1/ConfigMap|${namespace}|`);
  assert.ok(shared);
  assert.equal(shared.refs, 2);
  assert.equal(shared.watch.lists, 1);
  assert.equal(shared.watch.watchesStarted, 1, 'two consumers, one watch');
  assert.equal(stats.length, 2);

  first.release();
  assert.equal(registry.stats().find((s) => s.key === shared.key)?.refs, 1);
  second.release();
  labelled.release();
  assert.deepEqual(registry.stats(), []);
});
