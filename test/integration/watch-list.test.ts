// Initial sync through a streaming watch-list on the real API server, and the fallback to paginated lists.
//
// Kubernetes 1.37 serves watch-lists (WatchList is on by default): the sync must make no LIST request. A
// server that refuses one is stood in for by the real server refusing a request it cannot accept: the
// transport below turns the watch-list's resourceVersionMatch into one the server rejects with 422.

import assert from 'node:assert/strict';
import type test from 'node:test';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../host/src/abi/types.ts';
import {
  type ApiResource,
  KubeClient,
  kubeConfigTransport,
  type Transport,
  type TransportRequest,
} from '../../host/src/kube/index.ts';
import { type WatcherEvent, type WatcherOptions, watcher } from '../../host/src/watch/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';

/** Records every request, and optionally rewrites it before it leaves. */
function recording(inner: Transport, rewrite: (req: TransportRequest) => TransportRequest = (r) => r) {
  const requests: string[] = [];
  const transport: Transport = {
    request(req) {
      requests.push(req.path);
      return inner.request(rewrite(req));
    },
    close: () => inner.close(),
  };
  return { transport, requests };
}

async function sync(
  t: test.TestContext,
  prefix: string,
  rewrite?: (req: TransportRequest) => TransportRequest,
  options: WatcherOptions = {},
) {
  const kc = await getTestCluster();
  const namespace = await createTestNamespace(t, prefix);
  const admin = await KubeClient.fromKubeConfig(kc);
  t.after(() => admin.close());
  const configMaps: ApiResource = await admin.resource('v1', 'ConfigMap');
  for (const name of ['a', 'b', 'c']) {
    await admin.create(configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace },
      data: { k: name },
    });
  }
  const { transport, requests } = recording(await kubeConfigTransport(kc), rewrite);
  const client = new KubeClient(transport);
  const stop = new AbortController();
  const w = watcher(client, { resource: configMaps, namespace }, { pageSize: 2, ...options, signal: stop.signal });
  const events: WatcherEvent[] = [];
  const consumed = (async () => {
    for await (const e of w) events.push(e);
  })();
  t.after(async () => {
    stop.abort();
    await consumed;
    client.close();
  });
  await waitFor(() => events.some((e) => e.type === 'initDone'), { description: 'the initial sync' });
  const names = events
    .filter((e) => e.type === 'initApply')
    .map((e) => (e as { object: KubeObject }).object.metadata.name);
  // The live watch delivers what changes after the sync, whichever way the sync went.
  await admin.create(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'd', namespace } });
  await waitFor(() => events.some((e) => e.type === 'apply' && e.object.metadata.name === 'd'), {
    description: 'the change after the sync',
  });
  const collection = `/api/v1/namespaces/${namespace}/configmaps`;
  const lists = requests.filter((p) => p.startsWith(collection) && !p.includes('watch=true'));
  const watchLists = requests.filter((p) => p.startsWith(collection) && p.includes('sendInitialEvents=true'));
  return { w, names, lists, watchLists };
}

describe('watch-list initial sync', () => {
  it('syncs by one streaming watch-list, with no LIST request, then keeps watching on it', async (t) => {
    const { w, names, lists, watchLists } = await sync(t, 'watch-list');
    assert.ok(
      ['a', 'b', 'c'].every((n) => names.includes(n)),
      `initial objects: ${names}`,
    );
    assert.equal(lists.length, 0);
    assert.equal(watchLists.length, 1);
    assert.ok(
      watchLists[0]!.includes('resourceVersionMatch=NotOlderThan') &&
        watchLists[0]!.includes('allowWatchBookmarks=true'),
    );
    assert.deepEqual(
      [w.stats.lists, w.stats.watchLists, w.stats.watchListFallbacks, w.stats.watchesStarted],
      [1, 1, 0, 1],
    );
  });

  it('falls back to paginated lists when the server refuses the watch-list', async (t) => {
    const refused = (req: TransportRequest) =>
      req.path.includes('sendInitialEvents=true')
        ? { ...req, path: req.path.replace('resourceVersionMatch=NotOlderThan', 'resourceVersionMatch=Exact') }
        : req;
    const { w, names, lists, watchLists } = await sync(t, 'watch-list-refused', refused);
    assert.ok(
      ['a', 'b', 'c'].every((n) => names.includes(n)),
      `listed objects: ${names}`,
    );
    assert.equal(watchLists.length, 1, 'tried once, then never again');
    assert.ok(lists.length >= 2, `a paginated list (pages of 2): ${lists.length} pages`);
    assert.deepEqual([w.stats.watchLists, w.stats.watchListFallbacks], [1, 1]);
  });

  it("lists only when told to (initialSync: 'list')", async (t) => {
    const { w, lists, watchLists } = await sync(t, 'watch-list-off', undefined, { initialSync: 'list' });
    assert.equal(watchLists.length, 0);
    assert.ok(lists.length >= 2);
    assert.equal(w.stats.watchLists, 0);
  });
});
