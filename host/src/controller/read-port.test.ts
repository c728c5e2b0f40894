// Unit tests of the guest's read port: grants, watched kinds, namespaces and label selectors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import { type CacheHandle, createStore, parseLabelSelector } from '../cache/index.ts';
import { isWrError } from '../errors.ts';
import { ScopedReadPort } from './read-port.ts';
import { KindCaches } from './scope.ts';

function configMap(namespace: string, name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, uid: `${namespace}-${name}`, labels } };
}

/** One store per namespace, as the registry would hand them to a controller scoped to `namespaces`. */
function caches(namespaces: string[], objects: KubeObject[]): KindCaches {
  const handles = namespaces.map((ns) => {
    const store = createStore();
    for (const o of objects) if (o.metadata.namespace === ns) store.writer.apply(o);
    return {
      resource: {
        apiVersion: 'v1',
        group: '',
        version: 'v1',
        kind: 'ConfigMap',
        plural: 'configmaps',
        namespaced: true,
      },
      reader: store.reader,
      hasSynced: true,
      synced: Promise.resolve(),
      subscribe: () => () => undefined,
      release: () => undefined,
    } as unknown as CacheHandle;
  });
  return new KindCaches({ apiVersion: 'v1', kind: 'ConfigMap', namespaced: true }, handles, namespaces);
}

const denied = (err: unknown) => isWrError(err, 'WR_CAPABILITY_DENIED');

describe('ScopedReadPort', () => {
  const objects = [configMap('a', 'one', { tier: 'web' }), configMap('a', 'two'), configMap('b', 'three')];

  it('serves granted reads from the watched caches, as the JSON the cache holds', () => {
    const port = new ScopedReadPort();
    port.update(
      [caches(['a', 'b'], objects)],
      [{ apiVersion: 'v1', kind: 'ConfigMap', verbs: ['get', 'list'], namespaces: [] }],
    );
    const json = port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a', name: 'one' });
    assert.equal(JSON.parse(json!).metadata.name, 'one');
    assert.equal(port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a', name: 'missing' }), undefined);
    assert.equal(port.list({ apiVersion: 'v1', kind: 'ConfigMap' }).items.length, 3);
    const web = port.list({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: 'a',
      labelSelector: parseLabelSelector('tier=web'),
    });
    assert.deepEqual(
      web.items.map((j) => JSON.parse(j).metadata.name),
      ['one'],
    );
    // Priced by what a list may walk: namespace a holds two objects, only one matches.
    assert.equal(web.scanned, 2);
  });

  it('refuses a verb, kind or namespace outside the grants, and counts it', () => {
    const port = new ScopedReadPort();
    port.update(
      [caches(['a', 'b'], objects)],
      [{ apiVersion: 'v1', kind: 'ConfigMap', verbs: ['get'], namespaces: ['a'] }],
    );
    assert.throws(() => port.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a' }), denied);
    assert.throws(() => port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'b', name: 'three' }), denied);
    assert.throws(() => port.get({ apiVersion: 'v1', kind: 'Secret', namespace: 'a', name: 'x' }), denied);
    assert.equal(port.denied, 3);
    assert.ok(port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a', name: 'one' }));
  });

  it('a namespace-restricted list grant without a namespace in the query lists only granted namespaces', () => {
    const port = new ScopedReadPort();
    port.update(
      [caches(['a', 'b'], objects)],
      [{ apiVersion: 'v1', kind: 'ConfigMap', verbs: ['list'], namespaces: ['b'] }],
    );
    assert.deepEqual(
      port.list({ apiVersion: 'v1', kind: 'ConfigMap' }).items.map((j) => JSON.parse(j).metadata.name),
      ['three'],
    );
  });

  it('refuses a granted kind this reconciler does not watch, naming spec.related', () => {
    const port = new ScopedReadPort();
    port.update([], [{ apiVersion: 'v1', kind: 'ConfigMap', verbs: ['get'], namespaces: [] }]);
    assert.throws(
      () => port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a', name: 'one' }),
      (err: unknown) => denied(err) && /spec\.related/.test((err as Error).message),
    );
  });

  it('update() swaps grants under a running module', () => {
    const port = new ScopedReadPort();
    const cms = caches(['a'], objects);
    port.update([cms], []);
    assert.throws(() => port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a', name: 'one' }), denied);
    port.update([cms], [{ apiVersion: 'v1', kind: 'ConfigMap', verbs: ['get'], namespaces: [] }]);
    assert.ok(port.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'a', name: 'one' }));
  });
});
