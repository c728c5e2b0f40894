// Tests for controllerOwner: controller references by group and kind, UIDs over names, recreated owners.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject, OwnerReference } from '../abi/types.ts';
import { controllerOwner, type OwnerKind, type OwnerLookup } from './owner.ts';

const APP: OwnerKind = { apiVersion: 'example.com/v1', kind: 'App', namespaced: true };

/** `namespace` null makes a cluster-scoped child. */
function child(refs: OwnerReference[], namespace: string | null = 'ns'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'child', ...(namespace === null ? {} : { namespace }), ownerReferences: refs },
  };
}

const ref = (over: Partial<OwnerReference> = {}): OwnerReference => ({
  apiVersion: 'example.com/v1',
  kind: 'App',
  name: 'a',
  uid: 'uid-old',
  controller: true,
  ...over,
});

/** A primary cache holding `entries` as key -> uid. */
function lookup(entries: Record<string, string>): OwnerLookup {
  return {
    keyForUid: (uid) => Object.entries(entries).find(([, u]) => u === uid)?.[0],
    uidForKey: (key) => entries[key],
  };
}

test('maps a child to its controller owner by namespace/name', () => {
  assert.deepEqual(controllerOwner(child([ref()]), APP), { key: 'ns/a', stale: false });
});

test('ignores non-controller references and other kinds or groups, but not other versions', () => {
  assert.equal(controllerOwner(child([ref({ controller: false })]), APP), undefined);
  assert.equal(controllerOwner(child([ref({ kind: 'Other' })]), APP), undefined);
  assert.equal(controllerOwner(child([ref({ apiVersion: 'other.com/v1' })]), APP), undefined);
  assert.deepEqual(controllerOwner(child([ref({ apiVersion: 'example.com/v2beta1' })]), APP)?.key, 'ns/a');
  const apps: OwnerKind = { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true };
  assert.equal(controllerOwner(child([ref({ apiVersion: 'v1', kind: 'Deployment' })]), apps), undefined);
});

test('the UID known to the cache wins over the name', () => {
  const mapping = controllerOwner(child([ref({ name: 'renamed-in-ref' })]), APP, lookup({ 'ns/a': 'uid-old' }));
  assert.deepEqual(mapping, { key: 'ns/a', stale: false });
});

test('a child of a deleted and re-created owner is marked stale', () => {
  assert.deepEqual(controllerOwner(child([ref()]), APP, lookup({ 'ns/a': 'uid-new' })), { key: 'ns/a', stale: true });
});

test('an owner the cache has not seen yet is trusted by name', () => {
  assert.deepEqual(controllerOwner(child([ref()]), APP, lookup({})), { key: 'ns/a', stale: false });
});

test('cluster-scoped owners map to their name; a cluster-scoped child has no namespaced owner', () => {
  const cluster: OwnerKind = { apiVersion: 'example.com/v1', kind: 'App', namespaced: false };
  assert.deepEqual(controllerOwner(child([ref()]), cluster), { key: 'a', stale: false });
  assert.equal(controllerOwner(child([ref()], null), APP), undefined);
});
