// NodeOwnership.claim decides when a primary's children are brought into this share: once per arrival, only
// for a primary whose node did not come with its creation and none of whose children this host caches.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../abi/types.ts';
import { CachedObject, type ReflectorRegistry, SET_AT_CREATION } from '../../cache/index.ts';
import type { ListOptions } from '../../kube/client.ts';
import { silentLogger } from '../../kube/logger.ts';
import type { ClaimTarget } from '../policy.ts';
import type { NodeDirectory } from './nodes.ts';
import { NodeOwnership } from './ownership.ts';

const MOVED_AT = 1_800_000_000_000;

function cached(obj: KubeObject, fieldChangedAt?: number): CachedObject {
  return new CachedObject(JSON.stringify(obj), obj, obj.metadata.namespace, fieldChangedAt);
}

function app(fieldChangedAt: number | undefined): CachedObject {
  return cached(
    {
      apiVersion: 'x/v1',
      kind: 'App',
      metadata: { name: 'a', namespace: 'ns', uid: 'uid-a', labels: { n: 'edge-b' } },
    },
    fieldChangedAt,
  );
}

function setup(nodeName = 'edge-b') {
  const lists: ListOptions[] = [];
  const children: CachedObject[] = [];
  const ownership = new NodeOwnership({
    nodeName,
    rule: { label: 'n' },
    fieldSelectable: false,
    controller: { name: 'apps', primary: { apiVersion: 'x/v1', kind: 'App' } },
    // Neither is read here: this host does not count unassigned primaries.
    registry: {} as ReflectorRegistry,
    nodes: { onChange: () => () => {} } as unknown as NodeDirectory,
    handoverMs: 0,
    client: {
      resource: async () => ({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }),
      list: async (_res, options = {}) => {
        lists.push(options);
        return { metadata: {}, items: [] };
      },
    },
    counting: () => false,
    logger: silentLogger,
    onClose: () => {},
  });
  const target: ClaimTarget = {
    owned: [
      {
        kind: { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true } as ClaimTarget['owned'][number]['kind'],
        handles: [{ subscribe: () => () => {} }],
        byOwner: (uid) => children.filter((c) => c.controllerUid === uid),
      },
    ],
    client: {
      patchMetadata: async () => {
        throw new Error('nothing to relabel here');
      },
    },
  };
  return { ownership, target, lists, children };
}

test('claims a moved primary’s children once per arrival, and again after it left and came back', async () => {
  const { ownership, target, lists } = setup();
  const claim = ownership.claim('ns/a', app(MOVED_AT), target);
  assert.ok(claim !== undefined, 'a primary whose node changed after its creation is claimed');
  await claim;
  assert.equal(lists.length, 1);
  assert.equal(ownership.claim('ns/a', app(MOVED_AT), target), undefined, 'not again while it stays');
  ownership.left('ns/a');
  const again = ownership.claim('ns/a', app(MOVED_AT + 5_000), target);
  assert.ok(again !== undefined, 'claimed again on its next arrival');
  await again;
  assert.equal(lists.length, 2);
  ownership.close();
});

test('claims nothing for a primary assigned at its creation, or one of whose children this host caches', async () => {
  const { ownership, target, lists, children } = setup();
  assert.equal(ownership.claim('ns/a', app(SET_AT_CREATION), target), undefined);
  children.push(
    cached({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'b-main',
        namespace: 'ns',
        uid: 'uid-b-main',
        ownerReferences: [{ apiVersion: 'x/v1', kind: 'App', name: 'b', uid: 'uid-b', controller: true }],
      },
    }),
  );
  const b = cached(
    {
      apiVersion: 'x/v1',
      kind: 'App',
      metadata: { name: 'b', namespace: 'ns', uid: 'uid-b', labels: { n: 'edge-b' } },
    },
    MOVED_AT,
  );
  assert.equal(ownership.claim('ns/b', b, target), undefined, 'a restart or a quick move back: its children are here');
  // No evidence of when the node was set (no managedFields): it may have moved, so it is claimed.
  const unknown = ownership.claim('ns/c', cached(app(undefined).object()), target);
  assert.ok(unknown !== undefined);
  await unknown;
  assert.equal(lists.length, 1);
  ownership.close();
});

test('claims nothing when children carry no node label (a node name too long for a label value)', () => {
  const { ownership, target } = setup(`edge-${'x'.repeat(59)}`);
  assert.equal(ownership.claim('ns/a', app(MOVED_AT), target), undefined);
  ownership.close();
});
