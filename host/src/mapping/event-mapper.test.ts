// Tests for EventMapper: primary, child and related events into a real WorkQueue with lanes and reasons.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import { WrError } from '../errors.ts';
import { type WorkItem, WorkQueue } from '../queue/index.ts';
import { EventMapper } from './event-mapper.ts';
import { FieldRefIndex } from './field-index.ts';
import type { OwnerLookup } from './owner.ts';

const app = (name: string, uid: string, spec: Record<string, unknown> = {}, generation = 1): KubeObject => ({
  apiVersion: 'example.com/v1',
  kind: 'App',
  metadata: { name, namespace: 'ns', uid, generation },
  spec,
});

const owned = (name: string, ownerUid: string, ownerName = 'a'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace: 'ns',
    ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'App', name: ownerName, uid: ownerUid, controller: true }],
  },
});

type Seen = Pick<WorkItem, 'key' | 'reason' | 'lane'> & { source?: string };

async function drain(queue: WorkQueue): Promise<Seen[]> {
  const items: Seen[] = [];
  while (queue.stats().depth > 0) {
    const item = (await queue.get()) as WorkItem;
    const { source } = item;
    items.push({
      key: item.key,
      reason: item.reason,
      lane: item.lane,
      ...(source === undefined ? {} : { source: `${source.kind} ${source.namespace}/${source.name}` }),
    });
    queue.done(item.key);
  }
  return items;
}

function setup(lookup?: OwnerLookup) {
  const queue = new WorkQueue({ name: 'apps' });
  const index = new FieldRefIndex({ path: 'spec.configRef' });
  const mapper = new EventMapper({
    primary: { apiVersion: 'example.com/v1', kind: 'App', namespaced: true },
    ...(lookup === undefined ? {} : { ownerLookup: lookup }),
    related: { 'v1/Secret': index.keysFor.bind(index) },
    indexes: [index],
    sink: queue,
  });
  return { queue, mapper };
}

test('primary events: initial list in the low lane, watch events in the user lane, status filtered', async () => {
  const { queue, mapper } = setup();
  mapper.primary({ type: 'added', object: app('a', 'u1'), initial: true });
  mapper.primary({ type: 'added', object: app('b', 'u2') });
  mapper.primary({ type: 'updated', oldObject: app('b', 'u2'), object: { ...app('b', 'u2'), status: { ok: 1 } } });
  assert.deepEqual(await drain(queue), [
    { key: 'ns/b', reason: 'created', lane: 'user' },
    { key: 'ns/a', reason: 'created', lane: 'low' },
  ]);
  assert.equal(mapper.stats().filtered, 1);
});

test('child events enqueue the controlling owner; an owner change enqueues both owners', async () => {
  const { queue, mapper } = setup();
  mapper.child({ type: 'added', object: owned('c1', 'u1') });
  mapper.child({ type: 'updated', oldObject: owned('c2', 'u1', 'a'), object: owned('c2', 'u2', 'b') });
  assert.deepEqual(await drain(queue), [
    { key: 'ns/a', reason: 'child', lane: 'user', source: 'ConfigMap ns/c1' },
    { key: 'ns/b', reason: 'child', lane: 'user', source: 'ConfigMap ns/c2' },
  ]);
});

test('children of a re-created owner are ignored until they are deleted', async () => {
  const lookup: OwnerLookup = {
    keyForUid: (uid) => (uid === 'uid-new' ? 'ns/a' : undefined),
    uidForKey: (key) => (key === 'ns/a' ? 'uid-new' : undefined),
  };
  const { queue, mapper } = setup(lookup);
  mapper.child({ type: 'updated', oldObject: owned('c', 'uid-old'), object: owned('c', 'uid-old') });
  assert.equal(queue.stats().depth, 0);
  assert.equal(mapper.stats().staleOwner, 1);
  mapper.child({ type: 'deleted', object: owned('c', 'uid-old') });
  mapper.child({ type: 'added', object: owned('c', 'uid-new') });
  assert.deepEqual(await drain(queue), [{ key: 'ns/a', reason: 'child', lane: 'user', source: 'ConfigMap ns/c' }]);
});

test('related events reach the primaries the index files under their name', async () => {
  const { queue, mapper } = setup();
  mapper.primary({ type: 'added', object: app('a', 'u1', { configRef: 'creds' }), initial: true });
  mapper.primary({ type: 'added', object: app('b', 'u2', { configRef: 'other' }), initial: true });
  await drain(queue);
  const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'ns' } };
  mapper.related('v1/Secret')({ type: 'updated', object: secret, oldObject: secret });
  assert.deepEqual(await drain(queue), [{ key: 'ns/a', reason: 'related', lane: 'user', source: 'Secret ns/creds' }]);
  assert.throws(
    () => mapper.related('v1/ConfigMap'),
    (error) => error instanceof WrError && error.code === 'WR_CONFIG_INVALID',
  );
});

test('keys the queue refuses are counted', async () => {
  const queue = new WorkQueue({ name: 'tiny', maxKeys: 1 });
  const mapper = new EventMapper({
    primary: { apiVersion: 'example.com/v1', kind: 'App', namespaced: true },
    sink: queue,
  });
  mapper.primary({ type: 'added', object: app('a', 'u1') });
  mapper.primary({ type: 'added', object: app('b', 'u2') });
  assert.deepEqual(mapper.stats(), { enqueued: 1, filtered: 0, staleOwner: 0, refused: 1 });
  await queue.shutdown(false);
});
