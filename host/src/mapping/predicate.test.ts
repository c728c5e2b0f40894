// Tests for primaryTrigger: which primary changes enqueue, and why.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import type { MappingEvent } from './event.ts';
import { primaryTrigger } from './predicate.ts';

function app(metadata: Partial<KubeObject['metadata']> = {}, rest: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind: 'App',
    metadata: { name: 'a', namespace: 'ns', uid: 'u1', generation: 1, resourceVersion: '1', ...metadata },
    spec: { replicas: 1 },
    ...rest,
  };
}

const update = (oldObject: KubeObject, object: KubeObject): MappingEvent => ({ type: 'updated', oldObject, object });

test('creation and deletion always enqueue', () => {
  assert.equal(primaryTrigger({ type: 'added', object: app() }), 'created');
  assert.equal(primaryTrigger({ type: 'deleted', object: app() }), 'deleted');
});

test('a generation change is an update; a status-only write is not', () => {
  assert.equal(primaryTrigger(update(app(), app({ generation: 2, resourceVersion: '2' }))), 'updated');
  const withStatus = app({ resourceVersion: '2' }, { status: { ready: true } });
  assert.equal(primaryTrigger(update(app(), withStatus)), undefined);
});

test('the deletionTimestamp appearing reports a deletion', () => {
  const deleting = app({ deletionTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '2' });
  assert.equal(primaryTrigger(update(app(), deleting)), 'deleted');
});

test('finalizer changes enqueue, even while deleting', () => {
  const before = app({ finalizers: ['a', 'b'], deletionTimestamp: 'x' });
  assert.equal(primaryTrigger(update(before, app({ finalizers: ['a'], deletionTimestamp: 'x' }))), 'updated');
  assert.equal(primaryTrigger(update(before, app({ finalizers: ['a', 'b'], deletionTimestamp: 'x' }))), undefined);
});

test('label and annotation changes enqueue only when the reconciler declared them', () => {
  const labelled = update(app(), app({ labels: { tier: 'edge' } }));
  const annotated = update(app({ annotations: { a: '1' } }), app({ annotations: { a: '2' } }));
  assert.equal(primaryTrigger(labelled), undefined);
  assert.equal(primaryTrigger(labelled, { labels: true }), 'updated');
  assert.equal(primaryTrigger(annotated, { labels: true }), undefined);
  assert.equal(primaryTrigger(annotated, { annotations: true }), 'updated');
  assert.equal(
    primaryTrigger(update(app({ labels: { x: '1' } }), app({ labels: { x: '1' } })), { labels: true }),
    undefined,
  );
});

test('kinds without a generation compare their payload, still ignoring status', () => {
  const configMap = (data: Record<string, string>, status?: unknown): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'ns' },
    data,
    ...(status === undefined ? {} : { status }),
  });
  assert.equal(primaryTrigger(update(configMap({ k: '1' }), configMap({ k: '2' }))), 'updated');
  assert.equal(primaryTrigger(update(configMap({ k: '1' }), configMap({ k: '1' }, { seen: 1 }))), undefined);
});

test('an update without its old state is assumed to matter', () => {
  assert.equal(primaryTrigger({ type: 'updated', object: app() }), 'updated');
});
