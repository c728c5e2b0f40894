// KindCaches reads across the per-namespace handles of one kind as one store.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CacheHandle, createStore, type StoreReader } from '../cache/index.ts';
import { KindCaches } from './scope.ts';

const CONFIG_MAPS = { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true } as const;

function handle(reader: StoreReader): CacheHandle {
  return {
    resource: { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
    reader,
    hasSynced: true,
    synced: Promise.resolve(),
    subscribe: () => () => {},
    release: () => {},
  } as unknown as CacheHandle;
}

function child(namespace: string, name: string, ownerUid: string) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      uid: `${namespace}-${name}`,
      ownerReferences: [{ apiVersion: 'demo/v1', kind: 'App', name: 'owner', uid: ownerUid, controller: true }],
    },
  };
}

test('byOwner without a namespace finds children in every watched namespace; with one, only there', () => {
  const a = createStore();
  const b = createStore();
  a.writer.apply(child('a', 'one', 'owner-a'));
  b.writer.apply(child('b', 'two', 'owner-b'));
  b.writer.apply(child('b', 'other', 'someone-else'));
  const caches = new KindCaches(CONFIG_MAPS, [handle(a.reader), handle(b.reader)], ['a', 'b']);

  // The reconcile snapshot asks by owner UID alone: children must be found whichever handle holds them.
  assert.deepEqual(
    caches.byOwner('owner-b', undefined).map((o) => o.key),
    ['b/two'],
  );
  assert.deepEqual(
    caches.byOwner('owner-a', undefined).map((o) => o.key),
    ['a/one'],
  );
  assert.deepEqual(
    caches.byOwner('owner-b', 'b').map((o) => o.key),
    ['b/two'],
  );
  assert.deepEqual(caches.byOwner('owner-b', 'a'), []);
  assert.deepEqual(caches.byOwner('owner-b', 'unwatched'), []);
});
