// Unit tests of reflector() wiring a watcher into a store: relist diffs, isolation, and the sync barrier.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import type { KubeObject } from '../abi/types.ts';
import { createStore, type StoreEvent } from '../cache/store.ts';
import { isWrError } from '../errors.ts';
import { KubeClient } from '../kube/client.ts';
import type { Logger } from '../kube/logger.ts';
import type { ApiResource } from '../kube/paths.ts';
import {
  beginWatch,
  type CollectionState,
  collectionHandler,
  kubeStatus,
  sendJson,
  startFakeApiServer,
  writeEvent,
} from '../kube/testing/fake-api-server.ts';
import { httpTransport } from '../kube/transport.ts';
import { reflector } from './reflector.ts';
import { watcher } from './watcher.ts';

const configMaps: ApiResource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

function cm(name: string, rv: string, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv }, data };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function recordingLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = [];
  const noop = () => {};
  return { debug: noop, info: noop, warn: noop, error: (...args: unknown[]) => errors.push(args), errors };
}

async function start(state: CollectionState, logger?: Logger) {
  const server = await startFakeApiServer(collectionHandler(state));
  const client = new KubeClient(httpTransport({ server: server.url }));
  const stop = new AbortController();
  const store = createStore(logger === undefined ? {} : { logger });
  const w = watcher(
    client,
    { resource: configMaps, namespace: 'ns' },
    { signal: stop.signal, backoff: { initialMs: 10, maxMs: 20 }, initialSync: 'list' },
  );
  const r = reflector(store.writer, w, logger === undefined ? {} : { logger });
  cleanups.push(async () => {
    stop.abort();
    await r.done;
    client.close();
    await server.close();
  });
  return { server, store, r, stop };
}

describe('reflector', () => {
  it('relists exactly once on 410 and synthesizes a delete and an update', async () => {
    const state: CollectionState = {
      items: [cm('stays', '1'), cm('changes', '2'), cm('vanishes', '3')],
      listRv: '10',
      watches: [
        (_req, res) => {
          beginWatch(res);
          // While this watch was away, "vanishes" was deleted and "changes" changed; the history is compacted.
          state.items = [cm('stays', '1'), cm('changes', '12', { k: 'new' })];
          state.listRv = '13';
          writeEvent(res, 'ERROR', kubeStatus(410, 'Expired', 'too old resource version'));
        },
      ],
    };
    const { store, r } = await start(state);
    await r.synced;
    assert.equal(r.hasSynced, true);
    const seen: string[] = [];
    store.reader.subscribe((e: StoreEvent) => seen.push(`${e.type}:${e.object.name}@${e.object.resourceVersion}`), {
      replay: false,
    });
    await until('the relist', () => r.stats.lists === 2 && r.stats.watchesStarted === 2);
    await until('events', () => seen.length === 2);
    assert.deepEqual(seen.sort(), ['deleted:vanishes@3', 'updated:changes@12']);
    assert.equal(r.stats.relists, 1);
    assert.deepEqual(store.reader.get('ns', 'changes')?.object().data, { k: 'new' });
    assert.equal(store.reader.get('ns', 'vanishes'), undefined);
  });

  it('keeps watching when a subscriber throws and skips objects it cannot store (client-node #596)', async () => {
    const logger = recordingLogger();
    const state: CollectionState = {
      items: [cm('a', '1')],
      listRv: '5',
      watches: [
        (_req, res) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('b', '6'));
          writeEvent(res, 'ADDED', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { resourceVersion: '7' } });
          writeEvent(res, 'ADDED', cm('c', '8'));
        },
      ],
    };
    const { store, r } = await start(state, logger);
    let calls = 0;
    store.reader.subscribe(() => {
      calls++;
      throw new Error('consumer bug');
    });
    await until('all valid objects', () => store.reader.size === 3 && calls === 3);
    assert.equal(r.stats.errors, 0, 'the watch itself never failed');
    assert.equal(r.stats.watchesStarted, 1);
    // One skipped object, three handler failures.
    assert.equal(logger.errors.length, 4);
  });

  it('rejects synced when stopped before the first list completes', async () => {
    const server = await startFakeApiServer((_req, res) =>
      sendJson(res, 500, kubeStatus(500, 'InternalError', 'down')),
    );
    const client = new KubeClient(httpTransport({ server: server.url }));
    const stop = new AbortController();
    const r = reflector(
      createStore().writer,
      watcher(
        client,
        { resource: configMaps },
        { signal: stop.signal, backoff: { initialMs: 10, maxMs: 20 }, initialSync: 'list' },
      ),
    );
    await until('a failed list', () => r.stats.errors >= 1);
    stop.abort();
    await r.done;
    await assert.rejects(r.synced, (err) => isWrError(err, 'WR_KUBE_UNAVAILABLE'));
    assert.equal(r.hasSynced, false);
    client.close();
    await server.close();
  });
});
