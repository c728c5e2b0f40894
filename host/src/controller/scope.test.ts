// KindCaches reads across the per-namespace handles of one kind as one store; shardedScope narrows a scope to a share.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CacheHandle, createStore, parseLabelSelector, type StoreReader } from '../cache/index.ts';
import type { Ownership } from '../sharding/index.ts';
import { KindCaches, shardedScope, type WatchScope } from './scope.ts';

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

test('a share narrows the primary and every owned kind, except one a related watch caches whole', () => {
  const scope: WatchScope = {
    primary: { apiVersion: 'demo/v1', kind: 'App', labelSelector: parseLabelSelector('tier=web') },
    namespaces: ['ns'],
    owns: [
      { apiVersion: 'v1', kind: 'ConfigMap' },
      { apiVersion: 'apps/v1', kind: 'Deployment' },
      { apiVersion: 'v1', kind: 'Secret' },
    ],
    related: [
      { apiVersion: 'v1', kind: 'ConfigMap' },
      { apiVersion: 'v1', kind: 'Secret', labelSelector: parseLabelSelector('shared=yes') },
    ],
  };
  const share = { selector: 's/r=m', children: { selector: 's/r=m', labels: { 's/r': 'm' } } } as unknown as Ownership;
  const sharded = shardedScope(scope, share);
  assert.equal(sharded.primary.labelSelector?.toString(), parseLabelSelector('tier=web,s/r=m').toString());
  assert.deepEqual(
    sharded.owns.map((k) => [k.kind, k.labelSelector?.toString()]),
    [
      ['ConfigMap', undefined],
      ['Deployment', 's/r=m'],
      // A related watch narrowed by its own selector holds only part of the kind: the children's watch is narrowed.
      ['Secret', 's/r=m'],
    ],
  );
  assert.deepEqual(sharded.related, scope.related, 'related watches stay whole');
  const primariesOnly = shardedScope(scope, { selector: 's/r=m' } as unknown as Ownership);
  assert.deepEqual(primariesOnly.owns, scope.owns, 'a mode that does not label children leaves them whole');
});
