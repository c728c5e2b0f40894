// Unit tests of ReflectorRegistry: consumers of one (kind, scope, selector) share a single list and watch.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import { isWrError } from '../errors.ts';
import { KubeClient } from '../kube/client.ts';
import {
  type CollectionState,
  collectionHandler,
  type FakeApiServer,
  startFakeApiServer,
  writeEvent,
} from '../kube/testing/fake-api-server.ts';
import { httpTransport } from '../kube/transport.ts';
import { ReflectorRegistry } from './registry.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup() {
  const state: CollectionState = {
    items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } }],
    listRv: '3',
    watches: [],
  };
  const server: FakeApiServer = await startFakeApiServer(collectionHandler(state));
  const client = new KubeClient(httpTransport({ server: server.url }));
  const registry = new ReflectorRegistry(client, {
    watcher: { backoff: { initialMs: 10, maxMs: 20 }, initialSync: 'list' },
  });
  cleanups.push(async () => {
    await registry.close();
    client.close();
    await server.close();
  });
  const watches = () => server.requests.filter((r) => r.query.get('watch') === 'true');
  const lists = () => server.requests.filter((r) => r.path.endsWith('/configmaps') && r.query.get('watch') === null);
  return { state, server, registry, watches, lists };
}

describe('ReflectorRegistry', () => {
  it('shares one list and one watch between consumers of the same scope and stops with the last release', async () => {
    const { state, registry, watches, lists } = await setup();
    const first = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns' });
    const second = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns' });
    await first.synced;
    await second.synced;
    await until('the watch to open', () => (state.open?.length ?? 0) === 1);
    assert.equal(first.reader, second.reader);
    assert.equal(lists().length, 1);
    assert.equal(watches().length, 1);
    const stats = registry.stats();
    assert.equal(stats.length, 1);
    assert.equal(stats[0]?.refs, 2);
    assert.equal(stats[0]?.watch.watchesStarted, 1);

    const seenByFirst: string[] = [];
    const seenBySecond: string[] = [];
    first.subscribe((e) => seenByFirst.push(`${e.type}:${e.object.name}`));
    second.subscribe((e) => seenBySecond.push(`${e.type}:${e.object.name}`));
    writeEvent(state.open![0]!, 'ADDED', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'b', namespace: 'ns', resourceVersion: '4' },
    });
    await until('both subscribers', () => seenByFirst.length === 2 && seenBySecond.length === 2);
    assert.deepEqual(seenByFirst, ['added:a', 'added:b']);

    first.release();
    first.release();
    assert.equal(registry.stats()[0]?.refs, 1, 'a second release of the same handle is a no-op');
    writeEvent(state.open![0]!, 'ADDED', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'ns', resourceVersion: '5' },
    });
    await until('the remaining subscriber', () => seenBySecond.length === 3);
    assert.equal(seenByFirst.length, 2, 'subscriptions end with their handle');
    second.release();
    assert.deepEqual(registry.stats(), []);
    await until('the watch connection to close', () => (state.open?.length ?? 0) === 0);
  });

  it('keeps separate reflectors for different namespaces and selectors, keyed canonically', async () => {
    const { registry, watches } = await setup();
    const a = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', labelSelector: 'x=1,y' });
    const b = await registry.acquire({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: 'ns',
      labelSelector: 'y, x==1',
    });
    const c = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap' });
    await Promise.all([a.synced, b.synced, c.synced]);
    assert.equal(a.reader, b.reader);
    assert.notEqual(a.reader, c.reader);
    await until('two watches', () => watches().length === 2);
    const selectors = watches().map((r) => r.query.get('labelSelector'));
    assert.ok(selectors.includes('x=1,y'));
    assert.deepEqual(
      registry
        .stats()
        .map((s) => s.key)
        .sort(),
      ['v1/ConfigMap|*|', 'v1/ConfigMap|ns|x=1,y'],
    );
  });

  it('rejects unknown kinds and bad selectors before starting anything', async () => {
    const { registry, server } = await setup();
    await assert.rejects(registry.acquire({ apiVersion: 'v1', kind: 'Nope' }), (err) =>
      isWrError(err, 'WR_KUBE_NOT_FOUND'),
    );
    await assert.rejects(registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', labelSelector: 'a in b' }), (err) =>
      isWrError(err, 'WR_SELECTOR_INVALID'),
    );
    assert.deepEqual(registry.stats(), []);
    assert.equal(server.requests.filter((r) => r.path.endsWith('/configmaps')).length, 0);
  });
});
