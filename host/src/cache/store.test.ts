// Unit tests of the store: transform, lookups and indexes, relist diffs, and isolated asynchronous events.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import { isWrError } from '../errors.ts';
import type { Logger } from '../kube/logger.ts';
import { parseLabelSelector } from './label-selector.ts';
import { createStore, type StoreEvent } from './store.ts';

function obj(
  name: string,
  rv: string,
  extra: { ns?: string; labels?: Record<string, string>; owner?: string; data?: Record<string, string> } = {},
): KubeObject {
  const metadata: KubeObject['metadata'] = {
    name,
    namespace: extra.ns ?? 'ns',
    uid: `uid-${name}`,
    resourceVersion: rv,
  };
  if (extra.labels !== undefined) metadata.labels = extra.labels;
  if (extra.owner !== undefined) {
    metadata.ownerReferences = [
      { apiVersion: 'v1', kind: 'X', name: 'other', uid: 'not-controller' },
      { apiVersion: 'v1', kind: 'X', name: 'o', uid: extra.owner, controller: true },
    ];
  }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: extra.data ?? {} };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function recordingLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = [];
  const noop = () => {};
  return { debug: noop, info: noop, warn: noop, error: (...args: unknown[]) => errors.push(args), errors };
}

const names = (list: Array<{ name: string }>) => list.map((o) => o.name).sort();

describe('createStore', () => {
  it('keeps one transformed JSON copy and parses a fresh object on demand', () => {
    const { reader, writer } = createStore();
    const input = obj('a', '1');
    input.metadata.managedFields = [{ manager: 'kubectl', operation: 'Apply' }];
    input.metadata.annotations = {
      'kubectl.kubernetes.io/last-applied-configuration': '{"big":true}',
      keep: 'me',
    };
    writer.apply(input);
    const cached = reader.get('ns', 'a');
    assert.ok(cached);
    assert.doesNotMatch(cached.json, /managedFields|last-applied/);
    const parsed = cached.object();
    assert.deepEqual(parsed.metadata.annotations, { keep: 'me' });
    parsed.metadata.name = 'mutated';
    assert.equal(cached.object().metadata.name, 'a', 'callers cannot corrupt the cache');
    assert.equal(reader.jsonChars, cached.json.length);
  });

  it('drops an annotations map left empty and applies a caller transform after the default', () => {
    const { reader, writer } = createStore({
      transform: (o) => {
        delete o.data;
        return o;
      },
    });
    const input = obj('a', '1', { data: { k: 'v' } });
    input.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{}' };
    writer.apply(input);
    assert.deepEqual(Object.keys(reader.get('ns', 'a')!.object()).sort(), ['apiVersion', 'kind', 'metadata']);
    assert.equal(reader.get('ns', 'a')!.object().metadata.annotations, undefined);
  });

  it('answers get, list by namespace and selector, byOwner and custom indexes, following updates', () => {
    const { reader, writer } = createStore({
      indexers: { data: (o) => Object.values((o.object().data ?? {}) as Record<string, string>) },
    });
    writer.apply(obj('a', '1', { labels: { app: 'web', tier: 'front' }, owner: 'p1', data: { k: 'x' } }));
    writer.apply(obj('b', '1', { labels: { app: 'web', tier: 'back' }, owner: 'p1' }));
    writer.apply(obj('c', '1', { labels: { app: 'db' }, ns: 'other' }));
    writer.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cluster-scoped', resourceVersion: '1' } });
    assert.equal(reader.get('ns', 'a')?.controllerUid, 'p1');
    assert.equal(reader.get(undefined, 'cluster-scoped')?.key, 'cluster-scoped');
    assert.equal(reader.get('other', 'a'), undefined);
    assert.deepEqual(names(reader.list({ namespace: 'ns' })), ['a', 'b']);
    assert.deepEqual(names(reader.list({ labelSelector: 'app=web' })), ['a', 'b']);
    assert.deepEqual(names(reader.list({ labelSelector: 'app in (web,db),tier!=back' })), ['a', 'c']);
    assert.deepEqual(names(reader.list({ labelSelector: parseLabelSelector('!tier') })), ['c', 'cluster-scoped']);
    assert.deepEqual(names(reader.list({ namespace: 'other', labelSelector: 'app=web' })), []);
    assert.deepEqual(names(reader.byOwner('p1')), ['a', 'b']);
    assert.deepEqual(names(reader.byIndex('data', 'x')), ['a']);
    assert.throws(
      () => reader.list({ labelSelector: 'app in web' }),
      (err) => isWrError(err, 'WR_SELECTOR_INVALID'),
    );
    assert.throws(() => reader.byIndex('missing', 'x'), RangeError);

    writer.apply(obj('a', '2', { labels: { app: 'api' }, data: { k: 'y' } }));
    assert.deepEqual(names(reader.list({ labelSelector: 'app=web' })), ['b']);
    assert.deepEqual(names(reader.byOwner('p1')), ['b']);
    assert.deepEqual(names(reader.byIndex('data', 'x')), []);
    assert.deepEqual(names(reader.byIndex('data', 'y')), ['a']);
    writer.delete(obj('b', '3'));
    assert.deepEqual(names(reader.list({ namespace: 'ns' })), ['a']);
    assert.deepEqual(reader.byOwner('p1'), []);
    assert.equal(reader.size, 3);
  });

  it('delivers added, updated (with old) and deleted (final state) asynchronously and in order', async () => {
    const { reader, writer } = createStore();
    const seen: string[] = [];
    reader.subscribe((e) => {
      seen.push(
        `${e.type}:${e.object.name}@${e.object.resourceVersion}${e.type === 'updated' ? `<-${e.old.resourceVersion}` : ''}`,
      );
    });
    writer.apply(obj('a', '1'));
    writer.apply(obj('a', '1'));
    writer.apply(obj('a', '2'));
    writer.delete(obj('a', '3'));
    writer.delete(obj('never-seen', '4'));
    assert.deepEqual(seen, [], 'nothing runs inside the write');
    await tick();
    assert.deepEqual(seen, ['added:a@1', 'updated:a@2<-1', 'deleted:a@3']);
  });

  it('isolates a throwing or rejecting handler from other handlers and later events (client-node #596)', async () => {
    const logger = recordingLogger();
    const { reader, writer } = createStore({ logger });
    const good: string[] = [];
    reader.subscribe(() => {
      throw new Error('handler bug');
    });
    reader.subscribe(async () => {
      throw new Error('async handler bug');
    });
    reader.subscribe((e) => {
      good.push(e.object.name);
    });
    writer.apply(obj('a', '1'));
    writer.apply(obj('b', '1'));
    await tick();
    await tick();
    assert.deepEqual(good, ['a', 'b']);
    assert.equal(logger.errors.length, 4);
  });

  it('replays existing objects to a late subscriber before newer events, and stops after unsubscribe', async () => {
    const { reader, writer } = createStore();
    writer.apply(obj('a', '1'));
    writer.apply(obj('b', '1'));
    await tick();
    const seen: StoreEvent[] = [];
    const unsubscribe = reader.subscribe((e) => {
      seen.push(e);
    });
    writer.apply(obj('c', '1'));
    await tick();
    assert.deepEqual(
      seen.map((e) => `${e.type}:${e.object.name}`),
      ['added:a', 'added:b', 'added:c'],
    );
    unsubscribe();
    writer.apply(obj('d', '1'));
    await tick();
    assert.equal(seen.length, 3);
    const quiet: StoreEvent[] = [];
    reader.subscribe((e) => quiet.push(e), { replay: false });
    await tick();
    assert.equal(quiet.length, 0);
  });

  it('turns a relist into synthesized deletes and updates, and marks the store synced once', async () => {
    const { reader, writer } = createStore();
    assert.equal(reader.hasSynced, false);
    const first = writer.resync();
    first.add(obj('keep', '1'));
    first.add(obj('change', '1'));
    first.add(obj('vanish', '1'));
    assert.equal(reader.size, 0, 'nothing is visible before commit');
    first.commit();
    await reader.synced;
    assert.equal(reader.hasSynced, true);
    const seen: string[] = [];
    reader.subscribe((e) => seen.push(`${e.type}:${e.object.name}@${e.object.resourceVersion}`), { replay: false });
    const second = writer.resync();
    second.add(obj('keep', '1'));
    second.add(obj('change', '2'));
    second.add(obj('new', '1'));
    second.commit();
    await tick();
    assert.deepEqual(seen.sort(), ['added:new@1', 'deleted:vanish@1', 'updated:change@2']);
    assert.deepEqual(names(reader.list()), ['change', 'keep', 'new']);
    assert.throws(() => second.commit());
  });

  it('keeps when a tracked field last changed, read before managedFields are dropped; untracked stores carry nothing', () => {
    const created = '2026-01-02T03:04:05Z';
    const tracked = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'a',
        namespace: 'ns',
        creationTimestamp: created,
        labels: { node: 'n1' },
        managedFields: [
          {
            manager: 'm',
            fieldsType: 'FieldsV1',
            time: '2026-01-02T03:05:05Z',
            fieldsV1: { 'f:metadata': { 'f:labels': { 'f:node': {} } } },
          },
        ],
      },
    } as KubeObject;
    const store = createStore({ trackField: ['metadata', 'labels', 'node'] });
    store.writer.apply(structuredClone(tracked));
    const cached = store.reader.get('ns', 'a');
    assert.equal(cached?.fieldChangedAt, Date.parse(created) / 1000 + 60);
    assert.equal(cached?.object().metadata.managedFields, undefined, 'the cached JSON is stripped as ever');
    const plain = createStore();
    plain.writer.apply(structuredClone(tracked));
    assert.equal(
      Object.hasOwn(plain.reader.get('ns', 'a')!, 'fieldChangedAt'),
      false,
      'no slot where nothing is tracked',
    );
  });
});
