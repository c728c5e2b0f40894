// Unit tests of watcher() against a scripted local API server: pagination, bookmarks, failures, watchdog.

import assert from 'node:assert/strict';
import type http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import type { KubeObject } from '../abi/types.ts';
import { KubeClient, type KubeClientOptions } from '../kube/client.ts';
import type { ApiResource } from '../kube/paths.ts';
import {
  beginWatch,
  type CollectionState,
  collectionHandler,
  type FakeApiServer,
  kubeStatus,
  type RecordedRequest,
  sendJson,
  startFakeApiServer,
  type WatchScript,
  writeEvent,
} from '../kube/testing/fake-api-server.ts';
import { httpTransport } from '../kube/transport.ts';
import { type WatcherEvent, type WatcherOptions, watcher } from './watcher.ts';

const configMaps: ApiResource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

function cm(name: string, rv: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } };
}

const apiServer = (state: CollectionState) => collectionHandler(state);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function start(
  handler: (req: RecordedRequest, res: http.ServerResponse) => void,
  options: WatcherOptions = {},
  clientOptions: KubeClientOptions = {},
) {
  const server: FakeApiServer = await startFakeApiServer(handler);
  const client = new KubeClient(httpTransport({ server: server.url }), clientOptions);
  const ctl = new AbortController();
  const w = watcher(
    client,
    { resource: configMaps, namespace: 'ns' },
    // The list path unless a test asks for the watch-list one (its tests are at the end).
    { backoff: { initialMs: 10, maxMs: 40 }, initialSync: 'list', ...options, signal: ctl.signal },
  );
  const events: WatcherEvent[] = [];
  const consumed = (async () => {
    for await (const e of w) events.push(e);
  })();
  cleanups.push(async () => {
    ctl.abort();
    await consumed;
    client.close();
    await server.close();
  });
  return { server, w, events, ctl, consumed };
}

const watchRequests = (server: FakeApiServer) => server.requests.filter((r) => r.query.get('watch') === 'true');
const describeEvent = (e: WatcherEvent) =>
  e.type === 'init'
    ? 'init'
    : e.type === 'initDone'
      ? `initDone@${e.resourceVersion}`
      : `${e.type}:${e.object.metadata.name}`;

describe('watcher', () => {
  it('lists page by page, then watches from the list resourceVersion with bookmarks and a jittered timeout', async () => {
    const state = {
      items: [cm('a', '1'), cm('b', '2'), cm('c', '3')],
      listRv: '10',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('d', '11'));
          writeEvent(res, 'BOOKMARK', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '15' } });
          writeEvent(res, 'DELETED', cm('a', '16'));
          res.end();
        },
      ],
    };
    const { server, w, events } = await start(apiServer(state), {
      pageSize: 2,
      minWatchTimeoutSeconds: 300,
      maxWatchTimeoutSeconds: 600,
    });
    await until('two watches', () => watchRequests(server).length >= 2);
    assert.deepEqual(events.map(describeEvent), [
      'init',
      'initApply:a',
      'initApply:b',
      'initApply:c',
      'initDone@10',
      'apply:d',
      'delete:a',
    ]);
    const lists = server.requests.filter((r) => r.query.get('watch') === null);
    assert.deepEqual(
      lists.map((r) => [r.query.get('limit'), r.query.get('continue'), r.query.get('resourceVersion')]),
      [
        ['2', null, null],
        ['2', '2', null],
      ],
    );
    const [first, second] = watchRequests(server);
    assert.equal(first?.query.get('resourceVersion'), '10');
    assert.equal(first?.query.get('allowWatchBookmarks'), 'true');
    const timeout = Number(first?.query.get('timeoutSeconds'));
    assert.ok(timeout >= 300 && timeout <= 600, `timeoutSeconds ${timeout}`);
    assert.equal(second?.query.get('resourceVersion'), '16', 'resumes after the last event, past the bookmark');
    assert.equal(w.stats.lists, 1);
    assert.equal(w.stats.listPages, 2);
    assert.equal(w.stats.bookmarks, 1);
    assert.equal(w.stats.events, 2);
    assert.equal(w.stats.reconnects, 1);
  });

  it('keeps going after an HTTP 500 on the watch, resuming without a relist (client-node #3020)', async () => {
    const state = {
      items: [cm('a', '1')],
      listRv: '5',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) =>
          sendJson(res, 500, kubeStatus(500, 'InternalError', 'boom')),
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'MODIFIED', cm('a', '6'));
        },
      ],
    };
    const { server, w, events } = await start(apiServer(state));
    await until('the event after the failure', () => events.length === 4);
    assert.equal(events[3]?.type, 'apply');
    assert.deepEqual(
      watchRequests(server).map((r) => r.query.get('resourceVersion')),
      ['5', '5'],
    );
    assert.equal(w.stats.lists, 1);
    assert.equal(w.stats.relists, 0);
    assert.equal(w.stats.errors, 1);
  });

  it('aborts a silent watch through the watchdog and resumes from the last resourceVersion (#958)', async () => {
    const state = {
      items: [],
      listRv: '7',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('x', '8'));
          // Then nothing at all: the connection stays open but silent.
        },
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('y', '9'));
        },
      ],
    };
    const { server, w, events } = await start(apiServer(state), { watchdogMs: 100 });
    await until('the event on the second watch', () =>
      events.some((e) => e.type === 'apply' && e.object.metadata.name === 'y'),
    );
    assert.equal(w.stats.stalls >= 1, true);
    assert.equal(watchRequests(server)[1]?.query.get('resourceVersion'), '8');
    assert.equal(w.stats.lists, 1, 'a stall never relists');
  });

  it('replaces a silent watch when a probe on a new connection sees changes it has not delivered', async () => {
    const state = {
      items: [],
      listRv: '7',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('x', '8'));
          // Then frozen: open, silent, and the change below never arrives on this connection.
        },
        // The probe: the server has a change after 8 that the running watch did not deliver.
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('y', '9'));
          res.end();
        },
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('y', '9'));
        },
      ],
    };
    const { server, w, events } = await start(apiServer(state), { watchdogMs: 60_000, probeIntervalMs: 50 });
    await until('the missed change through the resumed watch', () =>
      events.some((e) => e.type === 'apply' && e.object.metadata.name === 'y'),
    );
    const [, probe, resumed] = watchRequests(server);
    assert.equal(probe?.query.get('resourceVersion'), '8');
    assert.equal(probe?.query.get('timeoutSeconds'), '1');
    assert.equal(resumed?.query.get('resourceVersion'), '8', 'resumes from the last delivered resourceVersion');
    assert.equal(w.stats.frozen, 1);
    assert.equal(w.stats.stalls, 1);
    assert.equal(w.stats.lists, 1, 'a frozen watch is resumed, not relisted');
  });

  it('keeps a silent watch whose probe finds nothing new, and probes only while it is silent', async () => {
    let open: http.ServerResponse | undefined;
    const emptyProbe = (_req: RecordedRequest, res: http.ServerResponse) => {
      beginWatch(res);
      res.end();
    };
    const state = {
      items: [],
      listRv: '7',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          open = res;
        },
        ...Array.from({ length: 50 }, () => emptyProbe),
      ],
    };
    const { w, events } = await start(apiServer(state), { watchdogMs: 60_000, probeIntervalMs: 40 });
    await until('two probes of the idle watch', () => w.stats.probes >= 2);
    // Busy: an event every 10 ms keeps every probe away.
    const probesBefore = w.stats.probes;
    for (let i = 0; i < 20; i++) {
      writeEvent(open!, 'ADDED', cm(`busy-${i}`, String(10 + i)));
      await new Promise((r) => setTimeout(r, 10));
    }
    await until('the busy events', () => events.filter((e) => e.type === 'apply').length === 20);
    assert.ok(w.stats.probes <= probesBefore + 1, `probes while busy: ${w.stats.probes - probesBefore}`);
    assert.equal(w.stats.frozen, 0);
    assert.equal(w.stats.watchesStarted, 1, 'the live watch was never replaced');
  });

  it('keeps a healthy watch open far past the request timeout (client-node #364)', async () => {
    let open: http.ServerResponse | undefined;
    const state = {
      items: [],
      listRv: '1',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          open = res;
        },
      ],
    };
    const { w } = await start(
      apiServer(state),
      { watchdogMs: 5000 },
      // The connect timeout covers only the wait for headers; on a loaded 2-core machine a 40 ms one fails
      // there for the wrong reason. The request timeout stays far shorter than the watch's lifetime below.
      { requestTimeoutMs: 200, watchConnectTimeoutMs: 5000 },
    );
    await until('the watch to open', () => open !== undefined);
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 75));
      writeEvent(open!, 'BOOKMARK', { metadata: { resourceVersion: String(2 + i) } });
    }
    await until('all bookmarks', () => w.stats.bookmarks === 8);
    assert.equal(w.stats.watchesStarted, 1);
    assert.equal(w.stats.reconnects, 0);
    assert.equal(w.stats.errors, 0);
    assert.equal(w.resourceVersion, '9');
  });

  it('relists exactly once on a 410 ERROR event, starting with init', async () => {
    const state = {
      items: [cm('a', '1'), cm('b', '2')],
      listRv: '10',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => {
          beginWatch(res);
          state.items = [cm('a', '20')];
          state.listRv = '21';
          writeEvent(res, 'ERROR', kubeStatus(410, 'Expired', 'too old resource version: 10 (15)'));
        },
      ],
    };
    const { server, w, events } = await start(apiServer(state));
    await until('two initDone', () => events.filter((e) => e.type === 'initDone').length === 2);
    await until('the third watch', () => watchRequests(server).length >= 2);
    assert.deepEqual(events.map(describeEvent), [
      'init',
      'initApply:a',
      'initApply:b',
      'initDone@10',
      'init',
      'initApply:a',
      'initDone@21',
    ]);
    assert.equal(w.stats.lists, 2);
    assert.equal(w.stats.relists, 1);
    assert.equal(w.stats.gone, 1);
    assert.equal(watchRequests(server)[1]?.query.get('resourceVersion'), '21');
  });

  it('relists on an HTTP 410 answer to the watch request', async () => {
    const state = {
      items: [cm('a', '1')],
      listRv: '3',
      watches: [
        (_req: RecordedRequest, res: http.ServerResponse) => sendJson(res, 410, kubeStatus(410, 'Gone', 'gone')),
      ],
    };
    const { w } = await start(apiServer(state));
    await until('the relist', () => w.stats.lists === 2 && w.stats.watchesStarted === 2);
    assert.equal(w.stats.gone, 1);
    assert.equal(w.stats.errors, 0);
  });

  it('restarts the list without pagination when the continue token expires', async () => {
    const state = { items: [cm('a', '1'), cm('b', '2'), cm('c', '3')], listRv: '9', watches: [] as WatchScript[] };
    const inner = apiServer(state);
    let expired = false;
    const handler = (req: RecordedRequest, res: http.ServerResponse) => {
      if (req.query.get('continue') !== null && !expired) {
        expired = true;
        sendJson(res, 410, kubeStatus(410, 'Expired', 'The provided continue parameter is too old'));
        return;
      }
      inner(req, res);
    };
    const { server, w, events } = await start(handler, { pageSize: 2 });
    await until('initDone', () => events.some((e) => e.type === 'initDone'));
    assert.deepEqual(events.map(describeEvent), [
      'init',
      'initApply:a',
      'initApply:b',
      'init',
      'initApply:a',
      'initApply:b',
      'initApply:c',
      'initDone@9',
    ]);
    const last = server.requests.filter((r) => r.query.get('watch') === null).at(-1);
    assert.equal(last?.query.get('limit'), null);
    assert.equal(w.stats.lists, 1);
    assert.equal(w.stats.listRestarts, 1);
  });

  it('backs off with bounded jitter when every watch fails, without a reconnect storm', async () => {
    const state = { items: [], listRv: '1', watches: [] as WatchScript[] };
    const inner = apiServer(state);
    const handler = (req: RecordedRequest, res: http.ServerResponse) => {
      if (req.query.get('watch') === 'true') sendJson(res, 503, kubeStatus(503, 'ServiceUnavailable', 'down'));
      else inner(req, res);
    };
    const began = Date.now();
    const { server, w } = await start(handler, { backoff: { initialMs: 20, maxMs: 80 }, random: () => 0.5 });
    await until('several failed watches', () => w.stats.errors >= 4);
    const elapsed = Date.now() - began;
    // Delays are 10, 20, 40, 40... ms with random()=0.5: never more attempts than time allows.
    assert.ok(
      watchRequests(server).length <= 2 + elapsed / 10,
      `${watchRequests(server).length} attempts in ${elapsed} ms`,
    );
    assert.equal(w.stats.lists, 1);
  });

  it('treats a watch closed at once with nothing delivered as a failure', async () => {
    const state = { items: [], listRv: '1', watches: [] as WatchScript[] };
    const inner = apiServer(state);
    const handler = (req: RecordedRequest, res: http.ServerResponse) => {
      if (req.query.get('watch') === 'true') {
        beginWatch(res);
        res.end();
      } else inner(req, res);
    };
    const { w } = await start(handler);
    await until('two failures', () => w.stats.errors >= 2);
    assert.equal(w.stats.lists, 1);
  });

  describe('watch-list', () => {
    it('syncs through one watch-list request (no LIST) and keeps it as the live watch', async () => {
      const state: CollectionState = { items: [cm('a', '7'), cm('b', '3')], listRv: '12', watches: [] };
      const { server, w, events } = await start(apiServer(state), { initialSync: 'watch-list' });
      await until('the initial sync', () => events.some((e) => e.type === 'initDone'));
      await until('the watch to stay open', () => (state.open?.length ?? 0) === 1);
      writeEvent(state.open![0]!, 'MODIFIED', cm('a', '13'));
      await until('the live change', () => events.length === 5);
      assert.deepEqual(events.map(describeEvent), ['init', 'initApply:a', 'initApply:b', 'initDone@12', 'apply:a']);
      assert.equal(
        server.requests.filter((r) => r.query.get('watch') === null && r.path.endsWith('/configmaps')).length,
        0,
      );
      const [request] = watchRequests(server);
      assert.equal(request?.query.get('sendInitialEvents'), 'true');
      assert.equal(request?.query.get('resourceVersionMatch'), 'NotOlderThan');
      assert.equal(request?.query.get('allowWatchBookmarks'), 'true');
      assert.equal(request?.query.get('resourceVersion'), null, 'a consistent read: no resourceVersion');
      assert.equal(watchRequests(server).length, 1);
      assert.equal(w.resourceVersion, '13');
      assert.deepEqual(
        [w.stats.lists, w.stats.watchLists, w.stats.listPages, w.stats.watchListFallbacks],
        [1, 1, 0, 0],
      );
    });

    it('falls back to paginated lists for good when the server refuses it', async () => {
      const state: CollectionState = { items: [cm('a', '1')], listRv: '5', watches: [], refuseWatchList: true };
      const { server, w, events } = await start(apiServer(state), { initialSync: 'watch-list' });
      await until('the watch after the list', () => (state.open?.length ?? 0) === 1);
      assert.deepEqual(events.map(describeEvent), ['init', 'initApply:a', 'initDone@5']);
      const watches = watchRequests(server);
      assert.deepEqual(
        watches.map((r) => [r.query.get('sendInitialEvents'), r.query.get('resourceVersion')]),
        [
          ['true', null],
          [null, '5'],
        ],
      );
      // A 410 later relists by LIST, not by another refused watch-list.
      writeEvent(state.open![0]!, 'ERROR', kubeStatus(410, 'Expired', 'too old resource version'));
      await until('the relist', () => w.stats.lists === 3);
      await until('the relist to finish', () => events.filter((e) => e.type === 'initDone').length === 2);
      assert.equal(watchRequests(server).filter((r) => r.query.get('sendInitialEvents') === 'true').length, 1);
      assert.deepEqual([w.stats.watchLists, w.stats.watchListFallbacks], [1, 1]);
    });

    it('lists once after a watch-list that breaks before its initial events end, then tries it again', async () => {
      const state: CollectionState = { items: [cm('a', '1')], listRv: '5', watches: [] };
      let broken = 0;
      const inner = apiServer(state);
      const handler = (req: RecordedRequest, res: http.ServerResponse) => {
        if (req.query.get('sendInitialEvents') === 'true' && broken++ === 0) {
          beginWatch(res);
          writeEvent(res, 'ADDED', cm('a', '1'));
          res.end();
          return;
        }
        inner(req, res);
      };
      const { server, w, events } = await start(handler, { initialSync: 'watch-list' });
      await until('the watch after the list', () => (state.open?.length ?? 0) === 1);
      assert.deepEqual(events.map(describeEvent), ['init', 'initApply:a', 'init', 'initApply:a', 'initDone@5']);
      assert.equal(
        server.requests.filter((r) => r.query.get('watch') === null && r.path.endsWith('/configmaps')).length,
        1,
      );
      writeEvent(state.open![0]!, 'ERROR', kubeStatus(410, 'Expired', 'too old resource version'));
      await until('the second watch-list', () => w.stats.watchLists === 2);
      assert.equal(w.stats.watchListFallbacks, 1);
    });
  });
});
